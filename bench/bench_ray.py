"""Indexing throughput of the Ray path (``rag index --ray``) against the single-process path, same machine.

    python -m bench.bench_ray                       # 3,000 SQuAD-train paragraphs, 2 repeats, 2 actors
    python -m bench.bench_ray --paragraphs 300 --repeat 1

The corpus: the first ``--paragraphs`` paragraphs of SQuAD v1.1 train (``../shared/data/qa-train``), written
once under ``.cache/bench`` as JSONL files of 100 records. Each repeat builds the index from scratch both
ways, alternating so that both see the same load:

- single process: ``update_index`` with a new ``Embedder`` (the model loads inside the clock);
- Ray: ``ray_update_index`` on a local cluster of ``--cpus`` CPUs started before the clock (as a running
  cluster would be); reading tasks, actor start and model load are inside the clock. The cluster's own
  start is timed apart.

The ONNX query-encoder export is left out of both (it is once per model, not per index). Then both indexes
are compared: same chunk rows, largest vector difference. Medians printed and written to
``bench/results/ray.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SHARED_DATA, cache_dir, median, write_result

TRAIN = SHARED_DATA / "qa-train" / "squad_v1.1_train_explorer.json.gz"


def corpus(n: int) -> Path:
    """The first ``n`` SQuAD-train paragraphs as JSONL files of 100 records (written once)."""
    folder = cache_dir() / f"ray-corpus-{n}"
    if (folder / "done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with gzip.open(TRAIN, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    rows = [{"id": f"p{i:06d}", "title": art["title"], "text": para["context"]}
            for i, (art, para) in enumerate((a, p) for a in data for p in a["paragraphs"]) if i < n]
    for k in range(0, len(rows), 100):
        lines = "".join(json.dumps(r) + "\n" for r in rows[k : k + 100])
        (folder / f"part-{k // 100:04d}.jsonl").write_text(lines, encoding="utf-8")
    (folder / "done").write_text("")
    return folder


def same_index(a_dir: Path, b_dir: Path) -> dict[str, Any]:
    from rag.store import IndexStore

    a, b = IndexStore.open(a_dir), IndexStore.open(b_dir)
    ids = sorted(a.chunks)
    same_rows = sorted(a.chunks.rows()) == sorted(b.chunks.rows())
    diff = 0.0
    if same_rows:
        va = np.stack([a.vectors.reconstruct(int(i)) for i in ids])
        vb = np.stack([b.vectors.reconstruct(int(i)) for i in ids])
        diff = float(np.abs(va - vb).max())
    return {"same_documents": a.documents == b.documents, "same_chunk_rows": same_rows, "max_vector_diff": diff}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paragraphs", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import ray

    from rag.distributed import RayOptions, ray_session, ray_update_index
    from rag.embedding import Embedder
    from rag.indexer import update_index

    folder = corpus(args.paragraphs)
    work = cache_dir() / "ray-bench"
    options = RayOptions(num_cpus=args.cpus, concurrency=args.actors, batch_size=args.batch_size)
    t = time.perf_counter()
    with ray_session(options):
        ray.data.DataContext.get_current()  # the cluster is up
        start_s = time.perf_counter() - t
        runs: list[dict[str, Any]] = []
        for r in range(args.repeat):
            run: dict[str, Any] = {}
            for way in ("single", "ray"):
                out = work / way
                shutil.rmtree(out, ignore_errors=True)
                t = time.perf_counter()
                if way == "single":
                    report = update_index(folder, out, Embedder(), query_encoder=False)
                else:
                    report = ray_update_index(folder, out, Embedder(), options=options, query_encoder=False)
                seconds = time.perf_counter() - t
                run[way] = {"seconds": round(seconds, 2), "chunks": report.chunks_embedded,
                            "chunks_per_s": round(report.chunks_embedded / seconds, 2),
                            "embed_seconds": round(report.embed_seconds, 2)}
                print(f"repeat {r + 1} {way}: {run[way]}", flush=True)
            run["ratio"] = round(run["ray"]["chunks_per_s"] / run["single"]["chunks_per_s"], 3)
            runs.append(run)
        check = same_index(work / "single", work / "ray")
    result = {
        "command": "python -m bench.bench_ray " + " ".join(argv if argv is not None else sys.argv[1:]),
        "paragraphs": args.paragraphs,
        "options": options.model_dump(),
        "ray_cluster_start_s": round(start_s, 2),
        "single_chunks_per_s": median([r["single"]["chunks_per_s"] for r in runs]),
        "ray_chunks_per_s": median([r["ray"]["chunks_per_s"] for r in runs]),
        "ratio": median([r["ratio"] for r in runs]),
        "same_index": check,
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    write_result(args.out.stem if args.out else "ray", result, args.out.parent if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
