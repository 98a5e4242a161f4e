"""Warm latency of ``Assistant.retrieve`` and ``Assistant.ask`` on the seeds and on SQuAD v1.1 dev-a.

    python -m bench.bench_latency                       # seeds + dev-a (1,065 paragraphs), 3 passes
    python -m bench.bench_latency --corpora seeds --limit 20 --repeat 1

One process opens each index once (building it first under ``.cache/bench`` when needed), warms up,
then times every question through ``retrieve(q, k=10)`` and ``ask(q)``, ``--repeat`` passes; it also
times the parts of a retrieval (question encoding, dense search, BM25). ``ask`` takes other questions
in each pass (``--ask-limit`` each), so that none is answered from a cache. p50/p95 are per pass, and
the median over passes is printed and written to ``bench/results/latency.json`` (or ``--out``), with
the process CPU time per call beside the wall time (other jobs on a shared machine inflate the latter).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import DEV_A, ROOT, SEEDS, cache_dir, ensure_index, median, squad_corpus, summary_ms, write_result


def questions_for(corpus: str, limit: int | None) -> tuple[Path, Path, list[str]]:
    """(corpus folder, index folder, questions) for 'seeds' or 'dev-a'."""
    if corpus == "seeds":
        from eval.datasets import load_jsonl

        qs = [q.question for q in load_jsonl(ROOT / "eval" / "seeds.jsonl").questions]
        folder, index = SEEDS, cache_dir() / "seeds" / "index"
    elif corpus == "dev-a":
        folder, questions = squad_corpus(DEV_A)
        qs = [q.question for q in questions]
        index = folder.parent / "index"
    else:
        raise SystemExit(f"unknown corpus {corpus!r} (seeds or dev-a)")
    if limit is not None and limit < len(qs):
        import random

        qs = [qs[i] for i in sorted(random.Random(0).sample(range(len(qs)), limit))]
    return folder, index, qs


def time_calls(fn: Any, questions: list[str], cpu: list[float] | None = None) -> list[float]:
    """Wall-clock seconds per call; ``cpu`` receives the process CPU seconds per call (all threads),
    which the other jobs on a shared machine do not inflate the way they inflate wall time."""
    out = []
    for q in questions:
        c = time.process_time()
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def bench_corpus(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from rag import Assistant

    folder, index, qs = questions_for(name, args.limit)
    ensure_index(folder, index)
    t = time.perf_counter()
    qa = Assistant.open(index, reader=args.reader)
    open_s = time.perf_counter() - t
    snap = qa._snap
    for q in ("warm up the encoder", "and the reader", "Who said what?"):  # sessions, not caches
        qa.ask(q)
    retrieve_passes, ask_passes, retrieve_cpu_passes, ask_cpu_passes = [], [], [], []
    enc_passes, dense_passes, lex_passes = [], [], []
    per_pass = max(1, min(args.ask_limit, len(qs) // args.repeat))
    for r in range(args.repeat):
        # ask: other questions in every pass, so that no pass answers from the sentence-vector cache
        asked = qs[r * per_pass : (r + 1) * per_pass] or qs[:per_pass]
        cpu: list[float] = []
        retrieve_passes.append(summary_ms(time_calls(lambda q: qa.retrieve(q, k=10), qs, cpu)))
        retrieve_cpu_passes.append(summary_ms(cpu))
        cpu = []
        ask_passes.append(summary_ms(time_calls(lambda q: qa.ask(q), asked, cpu)))
        ask_cpu_passes.append(summary_ms(cpu))
        enc_passes.append(summary_ms(time_calls(qa.embedder.encode_query, qs)))
        vec_of = {q: qa.embedder.encode_query(q) for q in qs}
        dense_passes.append(summary_ms(time_calls(lambda q, v=vec_of: snap.store.search(v[q], 50), qs)))
        lex_passes.append(summary_ms(time_calls(lambda q: snap.retriever.lexical.search(q, 50), qs)))

    def med(passes: list[dict[str, float]]) -> dict[str, float]:
        return {k: round(median([p[k] for p in passes]), 3) for k in ("p50_ms", "p95_ms", "mean_ms")} | {
            "n": passes[0]["n"]}

    answerer = qa.answerer
    reader = getattr(answerer, "reader", None)
    res = {
        "corpus": name,
        "documents": len(snap.store.documents),
        "chunks": len(snap.store.chunks),
        "questions": len(qs),
        "open_s": round(open_s, 3),
        "query_encoder": "onnx" if getattr(qa.embedder, "query_encoder", None) else "sentence-transformers",
        "reader": getattr(reader, "name", None) and f"{reader.name} ({reader.backend})" if reader else "sentence",
        "retrieve": med(retrieve_passes),
        "ask": med(ask_passes),
        "cpu": {"retrieve": med(retrieve_cpu_passes), "ask": med(ask_cpu_passes)},
        "parts": {"encode_query": med(enc_passes), "dense_search_50": med(dense_passes),
                  "bm25_50": med(lex_passes)},
        "passes": {"retrieve": retrieve_passes, "ask": ask_passes},
    }
    print(f"{name}: {res['chunks']} chunks, {len(qs)} questions, encoder {res['query_encoder']}, "
          f"reader {res['reader']}")
    for key in ("retrieve", "ask"):
        print(f"  {key:<9} p50 {res[key]['p50_ms']:8.2f} ms   p95 {res[key]['p95_ms']:8.2f} ms   "
              f"(CPU time p50 {res['cpu'][key]['p50_ms']:.2f} ms)")
    for key, v in res["parts"].items():
        print(f"  {key:<16} p50 {v['p50_ms']:8.2f} ms   p95 {v['p95_ms']:8.2f} ms")
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", nargs="+", default=["seeds", "dev-a"])
    ap.add_argument("--limit", type=int, default=None, help="questions per corpus (default: all)")
    ap.add_argument("--ask-limit", type=int, default=300, help="questions timed through ask per pass")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reader", default="default")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--name", default="latency")
    args = ap.parse_args(argv)
    results = [bench_corpus(c, args) for c in args.corpora]
    write_result(args.name, {"command": "python -m bench.bench_latency " + " ".join(
        sys.argv[1:] if argv is None else argv), "results": results}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
