"""Choose how the retriever fuses its dense and BM25 rankings, on the dev-a tuning half (issue 13).

    python -m eval.tune_fusion                 # builds .cache/tune-fusion/index from dev-a v1.1 once

Every paragraph of SQuAD v1.1 dev-a is one document; the questions are those of the tuning half's
articles (``eval/splits/dev-a.json``: ``tune``), never the test half's. For each question the dense top
50 and the BM25 top 50 are taken once (as ``Retriever.retrieve`` takes them), then every fusion is scored
on them: recall@1 and recall@5 of the question's own paragraph among the first distinct documents.
Fusions: reciprocal rank (k = 10, 30, 60; dense weighted 0.3-1), and the convex combination of
min-max-normalised scores that ``rag.retriever.fuse`` computes, for dense weights 0.1-0.9.
Then BM25's own settings (``--bm25``): k1 and b on a grid, each with the convex fusion's dense weights
0.2-0.5. The best recall@1 sets ``rag.retriever.BM25_K1``, ``BM25_B`` and ``DENSE_WEIGHT``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Ranking = list[tuple[int, float]]
Fusion = Callable[[Ranking, Ranking], list[int]]
ROOT = Path(__file__).resolve().parents[1]
DEV_A = ROOT.parent / "shared" / "data" / "squad-v1.1-dev-a.json"


def rrf(dense_weight: float, k: int = 60) -> Fusion:
    def fusion(dense: Ranking, lexical: Ranking) -> list[int]:
        scores: dict[int, float] = {}
        for weight, ranking in ((dense_weight, dense), (1.0, lexical)):
            for rank, (cid, _) in enumerate(ranking):
                scores[cid] = scores.get(cid, 0.0) + weight / (k + rank + 1)
        return sorted(scores, key=lambda c: -scores[c])

    return fusion


def convex(dense_weight: float) -> Fusion:
    from rag.retriever import fuse

    def fusion(dense: Ranking, lexical: Ranking) -> list[int]:
        scores = fuse(dense, lexical, dense_weight)
        return sorted(scores, key=lambda c: -scores[c])

    return fusion


def tuning_material(folder: Path) -> tuple[Path, list[Any]]:
    """dev-a v1.1's paragraphs written as a corpus under ``folder``, and the tuning half's questions."""
    from eval.squad import SPLIT_FILE, read, read_article_split, write_corpus

    sf = read(DEV_A)
    corpus = folder / "corpus"
    write_corpus(sf.documents, corpus)
    titles = set(read_article_split(SPLIT_FILE)["tune"])
    return corpus, [e for e in sf.examples if e.title in titles]


def recall_1_5(ranked: Iterable[list[str]], gold: list[str]) -> tuple[float, float]:
    """recall@1 and recall@5 of each question's own document among its ranked documents."""
    from eval.metrics import recall_at

    lists = list(ranked)
    return recall_at(lists, gold, 1), recall_at(lists, gold, 5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / ".cache" / "tune-fusion" / "index")
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--bm25", action="store_true", help="also search BM25's k1 and b")
    ap.add_argument("--chunking", nargs="*", metavar="TOKENS:OVERLAP",
                    help="instead: index the corpus once per chunking (e.g. 200:1 250:0) and score the shipped "
                         "retriever on each")
    args = ap.parse_args(argv)
    if args.chunking:
        return chunkings(args.index.parent, args.chunking)

    from eval.metrics import dedupe
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.retriever import BM25_B, BM25_K1, DENSE_WEIGHT, LexicalIndex, Retriever
    from rag.store import IndexStore

    corpus, questions = tuning_material(args.index.parent)
    embedder = Embedder()
    update_index(corpus, args.index, embedder)
    embedder.use_query_encoder()
    retriever = Retriever(IndexStore.open(args.index), embedder)
    doc_of = {cid: retriever.store.chunks[cid].doc_id for cid in retriever.store.chunks}
    runs: list[tuple[Ranking, Ranking, str]] = []
    for e in questions:
        dense = retriever.store.search(embedder.encode_query(e.question), args.depth)
        runs.append((dense, retriever._lexical(e.question, args.depth, None), e.doc_id))

    def score(fusion: Fusion, runs: list[tuple[Ranking, Ranking, str]] = runs) -> tuple[float, float]:
        return recall_1_5((dedupe(doc_of[cid] for cid in fusion(d, lx)) for d, lx, _ in runs), [g for *_, g in runs])

    print(f"{len(runs)} questions of the tuning half, {len(doc_of)} chunks")
    print("| fusion | recall@1 | recall@5 |\n|---|---|---|")
    rows: list[tuple[str, float, float]] = [("dense alone", *score(lambda d, lx: [c for c, _ in d])),
                                            ("BM25 alone", *score(lambda d, lx: [c for c, _ in lx]))]
    for k in (10, 30, 60):
        for w in (0.3, 0.5, 0.7, 1.0):
            rows.append((f"reciprocal rank, k {k}, dense weight {w}", *score(rrf(w, k))))
    best = ("", -1.0, 0.0)
    for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        row = (f"convex, dense weight {w}", *score(convex(w)))
        rows.append(row)
        best = row if row[1] > best[1] else best
    for name, r1, r5 in rows:
        print(f"| {name} | {r1:.4f} | {r5:.4f} |")
    print(f"best convex: {best[0]} (recall@1 {best[1]:.4f}, recall@5 {best[2]:.4f}); "
          f"BM25 as shipped: k1 {BM25_K1}, b {BM25_B}")
    if args.bm25:
        ids = sorted(retriever.store.chunks)
        texts = [retriever.store.chunks.text(i) for i in ids]
        print("| k1 | b | best dense weight | recall@1 | recall@5 |\n|---|---|---|---|---|")
        top = (0.0, 0.0, 0.0, 0.0, 0.0)
        for k1 in (0.3, 0.45, 0.6, 0.9, 1.2, 1.5, 2.0):
            for b in (0.5, 0.75, 0.9, 1.0):
                lexical = LexicalIndex(ids, texts, k1=k1, b=b)
                grid = [(d, lexical.search(e.question, args.depth), g)
                        for (d, _, g), e in zip(runs, questions, strict=True)]
                cell = max((*score(convex(w), grid), w) for w in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5))
                print(f"| {k1} | {b} | {cell[2]} | {cell[0]:.4f} | {cell[1]:.4f} |", flush=True)
                top = max(top, (cell[0], cell[1], k1, b, cell[2]))
        print(f"best: k1 {top[2]}, b {top[3]}, dense weight {top[4]} (recall@1 {top[0]:.4f}, recall@5 {top[1]:.4f});"
              f" shipped: k1 {BM25_K1}, b {BM25_B}, dense weight {DENSE_WEIGHT}")
    return 0


def chunkings(folder: Path, specs: list[str]) -> int:
    """Recall of the shipped retriever on the tuning half for each chunking (max tokens : overlap in
    sentences), with the build time and chunk count of each index (the model loaded once, before the
    clock: the query encoder only adds a question path, documents are encoded as before)."""
    import time

    from eval.metrics import dedupe
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.retriever import Retriever
    from rag.store import ChunkingConfig, IndexStore

    corpus, questions = tuning_material(folder)
    embedder = Embedder()
    embedder.encode(["load the model before the clock"])
    print("| chunking (tokens:overlap) | chunks | build s | recall@1 | recall@5 |\n|---|---|---|---|---|")
    for spec in specs:
        tokens, overlap = (int(x) for x in spec.split(":"))
        index = folder / f"index-{tokens}-{overlap}"
        t = time.perf_counter()
        update_index(corpus, index, embedder, chunking=ChunkingConfig(max_tokens=tokens, overlap=overlap))
        build = time.perf_counter() - t
        embedder.use_query_encoder()
        retriever = Retriever(IndexStore.open(index), embedder)
        r1, r5 = recall_1_5((dedupe(p.doc_id for p in retriever.retrieve(e.question, k=30)) for e in questions),
                            [e.doc_id for e in questions])
        print(f"| {spec} | {len(retriever.store.chunks)} | {build:.1f} | {r1:.4f} | {r5:.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
