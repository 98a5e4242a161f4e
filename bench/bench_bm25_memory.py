"""Memory and build time of the retriever's BM25 index (``rag.retriever.LexicalIndex``) at a given size.

    python -m bench.bench_bm25_memory --chunks 200000

The texts: SQuAD v1.1 dev-a's 1,065 paragraphs repeated until ``--chunks`` texts, each with a distinct
token appended (so the vocabulary grows a little, as in a real archive). Reports the build time and the
process's resident memory before and after (psutil; the texts themselves are counted before), and the
BM25 score matrix's non-zeros. Writes ``bench/results/bm25-memory.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

from bench.common import DEV_A, rss_mb, write_result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    from rag.retriever import LexicalIndex

    data = json.loads(DEV_A.read_text(encoding="utf-8"))["data"]
    paras = [p["context"] for a in data for p in a["paragraphs"]]
    texts = [paras[i % len(paras)] + f" item{i}" for i in range(args.chunks)]
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    index = LexicalIndex(list(range(args.chunks)), texts)
    build_s = time.perf_counter() - t
    gc.collect()
    after = rss_mb()
    scores = getattr(index._bm25, "scores", {})
    result = {
        "command": "python -m bench.bench_bm25_memory " + " ".join(argv if argv is not None else sys.argv[1:]),
        "chunks": args.chunks,
        "build_s": round(build_s, 1),
        "rss_delta_mb": round(after - before, 1),
        "mb_per_million_chunks": round((after - before) * 1e6 / args.chunks, 0),
        "nonzeros": int(scores["data"].shape[0]) if "data" in scores else None,
    }
    print(json.dumps(result, indent=1))
    write_result(args.out.stem if args.out else "bm25-memory", result, args.out.parent if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
