"""Scale: the vector index at 10k, 100k and 1M passages, built from real embeddings (see scale_data.py).

    python -m bench.bench_scale                                  # 10k, 100k, 1M (long: run with nohup)
    python -m bench.bench_scale --sizes 10000 100000 --queries 200

For each size N the index is built through ``IndexStore`` exactly as ``rag index`` builds it: documents
are added one at a time with ``add_document`` (synthetic documents of ``--per-doc`` one-character
passages, so that the document and chunk files stay small and the figures are about vectors), the
store turns itself from exact (flat) into IVF-SQ8 when it passes ``approx_threshold`` (50,000), and
``save`` writes it. Then a fresh process per repeat (``--probe``) opens it with ``IndexStore.open``
and answers the queries one at a time with ``IndexStore.search``; it reports the open time, the query
latencies for each nprobe in ``--nprobe`` and its resident memory (RSS, psutil). Recall@10 compares
those ids with exact inner-product search over the same float32 vectors (numpy, blockwise).
Prints medians; writes ``bench/results/scale.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import cache_dir, machine, median, rss_mb, run_cmd, summary_ms, write_result
from bench.scale_data import DEFAULT_SIGMA, blocks, exact_topk, real_embeddings, recall_at_k


def build(index_dir: Path, base: np.ndarray, n: int, per_doc: int, sigma: float, seed: int,
          approx_threshold: int | None, reserve: bool = True) -> dict[str, Any]:
    """Build the size-``n`` index with IndexStore (``reserve(n)`` as ``rag index`` does unless ``reserve`` is
    false, add_document per document, then save)."""
    from rag.embedding import DEFAULT_MODEL
    from rag.schema import Chunk, Document
    from rag.store import DEFAULT_APPROX_THRESHOLD, ChunkingConfig, IndexStore

    if index_dir.exists():
        shutil.rmtree(index_dir)
    store = IndexStore.create(index_dir, DEFAULT_MODEL, base.shape[1], ChunkingConfig(),
                              approx_threshold=approx_threshold or DEFAULT_APPROX_THRESHOLD)
    text = "x" * per_doc
    t0 = time.perf_counter()
    if reserve:
        store.reserve(n)
    t_vectors = 0.0
    n_docs = 0
    for start, vecs in blocks(base, n, sigma, seed):
        for off in range(0, len(vecs), per_doc):
            part = vecs[off : off + per_doc]
            doc = Document(doc_id=f"d{n_docs:07d}", title=f"synthetic {n_docs}", text=text[: len(part)],
                           content_hash=f"{start + off:x}")
            chunks = [Chunk(chunk_id=0, doc_id=doc.doc_id, start=i, end=i + 1, text="x") for i in range(len(part))]
            t = time.perf_counter()
            store.add_document(doc, chunks, part)
            t_vectors += time.perf_counter() - t
            n_docs += 1
    t_add = time.perf_counter() - t0
    t = time.perf_counter()
    store.save()
    t_save = time.perf_counter() - t
    vec_file = index_dir / store.manifest.files["vectors"].name
    ivf = store.manifest.index_type == "ivf"
    return {
        "build_s": round(t_add + t_save, 3),
        "add_s": round(t_add, 3),
        "add_vectors_s": round(t_vectors, 3),
        "save_s": round(t_save, 3),
        "index_type": store.manifest.index_type,
        "nlist": int(store.vectors.nlist) if ivf else None,
        "documents": n_docs,
        "vectors_file_mb": round(vec_file.stat().st_size / 2**20, 1),
        "index_folder_mb": round(sum(p.stat().st_size for p in index_dir.iterdir()) / 2**20, 1),
        "builder_rss_mb": round(rss_mb(), 1),
    }


def probe(index_dir: Path, query_file: Path, ids_out: Path, nprobes: list[int], k: int) -> dict[str, Any]:
    """In a fresh process: open the store, answer every query for each nprobe, report time and memory."""
    import gc
    import resource

    import faiss

    from rag.store import IndexStore

    rss0 = rss_mb()
    # The vector index alone first (what the figures are about), then the whole store.
    manifest = IndexStore.read_manifest(index_dir)
    t = time.perf_counter()
    alone = faiss.read_index(str(index_dir / manifest.files["vectors"].name))
    vectors_open_s = time.perf_counter() - t
    vectors_rss_mb = rss_mb() - rss0
    del alone
    gc.collect()
    rss0 = rss_mb()
    t = time.perf_counter()
    store = IndexStore.open(index_dir)
    open_s = time.perf_counter() - t
    rss_open = rss_mb()
    queries = np.load(query_file)
    ivf = store.manifest.index_type == "ivf"
    nprobe_default = store.manifest.nprobe if ivf else None
    runs: dict[str, Any] = {}
    all_ids: dict[str, np.ndarray] = {}
    for nprobe in sorted({*nprobes, nprobe_default}) if nprobe_default else [0]:  # always the product's
        if ivf:
            store.manifest.nprobe = nprobe
            store._set_nprobe()
        store.search(queries[0], k)  # warm
        lat: list[float] = []
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for i, q in enumerate(queries):
            t = time.perf_counter()
            hits = store.search(q, k)
            lat.append(time.perf_counter() - t)
            ids[i, : len(hits)] = [h[0] for h in hits]
        runs[str(nprobe)] = summary_ms(lat)
        all_ids[str(nprobe)] = ids
    np.savez(ids_out, **all_ids)
    return {
        "open_s": round(open_s, 3),
        "vectors_open_s": round(vectors_open_s, 3),
        "vectors_rss_mb": round(vectors_rss_mb, 1),
        "rss_start_mb": round(rss0, 1),
        "rss_after_open_mb": round(rss_open, 1),
        "rss_after_queries_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "nprobe_default": nprobe_default,
        "latency": runs,
    }


def run_size(n: int, base: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    index_dir = work / f"index-{n}"
    build_file = work / f"build-{n}.json"
    if args.reuse and build_file.is_file() and (index_dir / "manifest.json").is_file():
        built = json.loads(build_file.read_text())
        print(f"[{n:,}] reusing the index built earlier", flush=True)
    else:
        print(f"[{n:,}] building ...", flush=True)
        built = build(index_dir, base, n, args.per_doc, args.sigma, args.seed, args.approx_threshold,
                      reserve=not args.no_reserve)
        build_file.write_text(json.dumps(built))
    print(f"[{n:,}] built in {built['build_s']:.1f} s ({built['index_type']}, nlist {built['nlist']})", flush=True)
    qfile = work / "queries.npy"
    np.save(qfile, queries)
    probes = []
    for r in range(args.repeat):
        ids_file = work / f"ids-{n}-{r}.npz"
        cmd = [sys.executable, "-m", "bench.bench_scale", "--probe", str(index_dir), "--query-file", str(qfile),
               "--ids-out", str(ids_file), "--k", str(args.k), "--nprobe", *map(str, args.nprobe)]
        proc = run_cmd(cmd)
        if proc.returncode != 0:
            raise RuntimeError(f"probe failed: {proc.stderr[-2000:]}")
        probes.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"[{n:,}] exact search for recall ...", flush=True)
    truth = exact_topk(base, n, queries, args.k, args.sigma, args.seed)
    found = np.load(work / f"ids-{n}-0.npz")
    latency: dict[str, Any] = {}
    for key in probes[0]["latency"]:
        latency[key] = {
            "p50_ms": round(median([p["latency"][key]["p50_ms"] for p in probes]), 3),
            "p95_ms": round(median([p["latency"][key]["p95_ms"] for p in probes]), 3),
            f"recall@{args.k}": round(recall_at_k(found[key], truth), 4),
        }
    default = str(probes[0]["nprobe_default"] or 0)
    res = {
        "n": n,
        **built,
        "open_s": round(median([p["open_s"] for p in probes]), 3),
        "vectors_open_s": round(median([p["vectors_open_s"] for p in probes]), 3),
        "vectors_rss_mb": round(median([p["vectors_rss_mb"] for p in probes]), 1),
        "rss_after_open_mb": round(median([p["rss_after_open_mb"] for p in probes]), 1),
        "rss_after_queries_mb": round(median([p["rss_after_queries_mb"] for p in probes]), 1),
        "peak_rss_mb": round(median([p["peak_rss_mb"] for p in probes]), 1),
        "nprobe_default": probes[0]["nprobe_default"],
        "query_p50_ms": latency[default]["p50_ms"],
        "query_p95_ms": latency[default]["p95_ms"],
        f"recall@{args.k}": latency[default][f"recall@{args.k}"],
        "by_nprobe": latency,
        "probes": probes,
    }
    print(f"[{n:,}] open {res['open_s']:.2f} s (vector index alone {res['vectors_open_s']:.2f} s, "
          f"{res['vectors_rss_mb']:.0f} MB), RSS {res['rss_after_queries_mb']:.0f} MB, "
          f"p50 {res['query_p50_ms']:.2f} ms, recall@{args.k} {res[f'recall@{args.k}']:.3f} "
          f"(nprobe {res['nprobe_default']})", flush=True)
    for key, v in latency.items():
        print(f"    nprobe {key:>4}: p50 {v['p50_ms']:.2f} ms  p95 {v['p95_ms']:.2f} ms  "
              f"recall@{args.k} {v[f'recall@{args.k}']:.3f}", flush=True)
    if not args.keep:
        shutil.rmtree(index_dir, ignore_errors=True)
        build_file.unlink(missing_ok=True)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200, help="queries per size (real SQuAD questions)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per size (medians reported)")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--per-doc", type=int, default=1000, help="passages per synthetic document")
    ap.add_argument("--sigma", type=float, default=DEFAULT_SIGMA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-limit", type=int, default=None, help="encode the first N paragraphs only (smoke)")
    ap.add_argument("--approx-threshold", type=int, default=None)
    ap.add_argument("--no-reserve", action="store_true",
                    help="build as before issue 17: IVF lists sized on the first vectors past the threshold")
    ap.add_argument("--work", default=str(cache_dir() / "scale"))
    ap.add_argument("--keep", action="store_true", help="keep the built indexes")
    ap.add_argument("--reuse", action="store_true", help="reuse indexes kept by an earlier --keep run")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    ap.add_argument("--name", default="scale")
    ap.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--query-file", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--ids-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.query_file, args.ids_out, args.nprobe, args.k)))
        return 0
    Path(args.work).mkdir(parents=True, exist_ok=True)
    base, queries = real_embeddings(n_queries=max(args.queries, 1000) if args.base_limit is None else args.queries,
                                    limit=args.base_limit)
    queries = queries[: args.queries]
    print(f"base vectors {len(base):,}, queries {len(queries)}, sigma {args.sigma}", flush=True)
    results = [run_size(n, base, queries, args) for n in args.sizes]
    write_result(args.name, {
        "command": "python -m bench.bench_scale " + " ".join(sys.argv[1:] if argv is None else argv),
        "method": {"base_vectors": len(base), "queries": len(queries), "sigma": args.sigma, "seed": args.seed,
                   "per_doc": args.per_doc, "repeat": args.repeat},
        "sizes": results,
        "machine_at_end": machine()["loadavg_at_start"],
    }, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
