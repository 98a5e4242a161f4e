"""Indexing throughput (chunks/s) against plain ``SentenceTransformer.encode`` on the same texts.

    python -m bench.bench_index                          # dev-a, 1,065 paragraphs, 3 repeats
    python -m bench.bench_index --corpus seeds --repeat 1

Each repeat indexes the corpus from scratch with ``update_index`` twice (read, chunk, embed, save; the
model is loaded and the one-off ONNX export made before the clock starts): as the product does, with
int8 passage vectors from the ONNX export, and with fp32 vectors from sentence-transformers
(``query_encoder=False``, as every index was built before int8 passage vectors); then it encodes the
very same chunk texts with a plain
``SentenceTransformer(...).encode(batch_size=64, normalize_embeddings=True)``. The three alternate, so
that all see the same machine load. Medians printed and written to
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
    t = time.perf_counter()
    exported = emb.export_query_encoder()  # once per model, in the user's cache (a model's first index)
    export_s = time.perf_counter() - t
    runs: list[dict[str, Any]] = []
    texts: list[str] = []
    for r in range(args.repeat):
        timed: dict[str, Any] = {}
        for kind, query_encoder in (("int8", True), ("fp32", False)):
            shutil.rmtree(work, ignore_errors=True)
            rep = update_index(folder, work, emb, query_encoder=query_encoder)
            store = IndexStore.open(work)
            assert store.manifest.document_vectors == kind, store.manifest.document_vectors
            timed[kind] = rep
        texts = [store.chunks[c].text for c in sorted(store.chunks)]
        t = time.perf_counter()
        plain.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        plain_s = time.perf_counter() - t
        int8, fp32 = timed["int8"], timed["fp32"]
        run = {
            "chunks": int8.chunks,
            "documents": int8.documents,
            "index_s": round(int8.seconds, 3),
            "embed_s": round(int8.embed_seconds, 3),
            "fp32_index_s": round(fp32.seconds, 3),
            "fp32_embed_s": round(fp32.embed_seconds, 3),
            "plain_encode_s": round(plain_s, 3),
            "index_chunks_per_s": round(int8.chunks / int8.seconds, 1),
            "fp32_index_chunks_per_s": round(fp32.chunks / fp32.seconds, 1),
            "plain_chunks_per_s": round(len(texts) / plain_s, 1),
        }
        runs.append(run)
        print(f"  run {r + 1}: update_index int8 {run['index_chunks_per_s']:.1f} chunks/s ({int8.seconds:.1f} s), "
              f"fp32 {run['fp32_index_chunks_per_s']:.1f} chunks/s ({fp32.seconds:.1f} s); plain encode "
              f"{run['plain_chunks_per_s']:.1f} chunks/s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    res = {
        "corpus": args.corpus if args.limit is None else f"{args.corpus} (first {args.limit} paragraphs)",
        "documents": runs[0]["documents"],
        "chunks": runs[0]["chunks"],
        "mean_chunk_chars": round(sum(map(len, texts)) / max(1, len(texts)), 1),
        "index_chunks_per_s": median([r["index_chunks_per_s"] for r in runs]),
        "fp32_index_chunks_per_s": median([r["fp32_index_chunks_per_s"] for r in runs]),
        "plain_chunks_per_s": median([r["plain_chunks_per_s"] for r in runs]),
        "index_s": median([r["index_s"] for r in runs]),
        "fp32_index_s": median([r["fp32_index_s"] for r in runs]),
        "plain_encode_s": median([r["plain_encode_s"] for r in runs]),
        "model_load_s": round(load_s, 3),
        "onnx_export_s": round(export_s, 3) if exported else None,
        "runs": runs,
    }
    res["ratio_index_to_plain"] = round(res["index_chunks_per_s"] / res["plain_chunks_per_s"], 3)
    res["ratio_fp32_index_to_plain"] = round(res["fp32_index_chunks_per_s"] / res["plain_chunks_per_s"], 3)
    print(f"{res['chunks']} chunks: update_index {res['index_chunks_per_s']:.1f} chunks/s (int8), "
          f"{res['fp32_index_chunks_per_s']:.1f} (fp32), plain encode "
          f"{res['plain_chunks_per_s']:.1f} chunks/s (ratio {res['ratio_index_to_plain']:.2f}); "
          f"one-off ONNX export {export_s:.1f} s")
    write_result(args.name, {"command": "python -m bench.bench_index " + " ".join(
        sys.argv[1:] if argv is None else argv), **res}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
