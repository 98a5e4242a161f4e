"""Indexing throughput (chunks/s) against plain ``SentenceTransformer.encode`` on the same texts.

    python -m bench.bench_index                          # dev-a, 1,065 paragraphs, 3 repeats
    python -m bench.bench_index --corpus seeds --repeat 1

Each repeat indexes the corpus from scratch with ``update_index`` (read, chunk, embed, save; the model
is loaded before the clock starts, and the one-off ONNX export is timed apart), then encodes the very
same chunk texts with a plain ``SentenceTransformer(...).encode(batch_size=64, normalize_embeddings=True)``.
The two alternate, so that both see the same machine load. Medians printed and written to
``bench/results/index.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import SEEDS, cache_dir, median, squad_corpus, write_result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="dev-a", choices=["seeds", "dev-a"])
    ap.add_argument("--limit", type=int, default=None, help="dev-a: first N paragraphs only")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--name", default="index")
    args = ap.parse_args(argv)

    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.store import IndexStore

    folder = SEEDS if args.corpus == "seeds" else squad_corpus(limit=args.limit)[0]
    work = cache_dir() / "index-bench"
    emb = Embedder()
    t = time.perf_counter()
    emb.encode(["warm up"])
    load_s = time.perf_counter() - t
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(emb.path, device="cpu")
    plain.encode(["warm up"])
    runs: list[dict[str, Any]] = []
    texts: list[str] = []
    for r in range(args.repeat):
        shutil.rmtree(work, ignore_errors=True)
        rep = update_index(folder, work, emb, query_encoder=False)
        store = IndexStore.open(work)
        texts = [store.chunks[c].text for c in sorted(store.chunks)]
        t = time.perf_counter()
        plain.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        plain_s = time.perf_counter() - t
        run = {
            "chunks": rep.chunks,
            "documents": rep.documents,
            "index_s": round(rep.seconds, 3),
            "embed_s": round(rep.embed_seconds, 3),
            "plain_encode_s": round(plain_s, 3),
            "index_chunks_per_s": round(rep.chunks / rep.seconds, 1),
            "plain_chunks_per_s": round(len(texts) / plain_s, 1),
        }
        runs.append(run)
        print(f"  run {r + 1}: update_index {run['index_chunks_per_s']:.1f} chunks/s ({rep.seconds:.1f} s, "
              f"embedding {rep.embed_seconds:.1f} s); plain encode {run['plain_chunks_per_s']:.1f} chunks/s",
              flush=True)
    t = time.perf_counter()
    exported = emb.export_query_encoder(work)
    export_s = time.perf_counter() - t
    shutil.rmtree(work, ignore_errors=True)
    res = {
        "corpus": args.corpus if args.limit is None else f"{args.corpus} (first {args.limit} paragraphs)",
        "documents": runs[0]["documents"],
        "chunks": runs[0]["chunks"],
        "mean_chunk_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
        "index_chunks_per_s": median([r["index_chunks_per_s"] for r in runs]),
        "plain_chunks_per_s": median([r["plain_chunks_per_s"] for r in runs]),
        "index_s": median([r["index_s"] for r in runs]),
        "plain_encode_s": median([r["plain_encode_s"] for r in runs]),
        "model_load_s": round(load_s, 3),
        "onnx_export_s": round(export_s, 3) if exported else None,
        "runs": runs,
    }
    res["ratio_index_to_plain"] = round(res["index_chunks_per_s"] / res["plain_chunks_per_s"], 3)
    print(f"{res['chunks']} chunks: update_index {res['index_chunks_per_s']:.1f} chunks/s, plain encode "
          f"{res['plain_chunks_per_s']:.1f} chunks/s (ratio {res['ratio_index_to_plain']:.2f}); "
          f"one-off ONNX export {export_s:.1f} s")
    write_result(args.name, {"command": "python -m bench.bench_index " + " ".join(
        sys.argv[1:] if argv is None else argv), **res}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
