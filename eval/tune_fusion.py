"""Choose how the retriever fuses its dense and BM25 rankings, on the dev-a tuning half (issue 13).

    python -m eval.tune_fusion                 # builds .cache/tune-fusion/index from dev-a v1.1 once

Every paragraph of SQuAD v1.1 dev-a is one document; the questions are those of the tuning half's
articles (``eval/splits/dev-a.json``: ``tune``), never the test half's. For each question the dense top
50 and the BM25 top 50 are taken once (as ``Retriever.retrieve`` takes them), then every fusion is scored
on them: recall@1 and recall@5 of the question's own paragraph among the first distinct documents.
Fusions: reciprocal rank (k = 10, 30, 60; dense weighted 0.3-1), and the convex combination of
min-max-normalised scores that ``rag.retriever.fuse`` computes, for dense weights 0.1-0.9.
The weight with the best recall@1 is what ``rag.retriever.DENSE_WEIGHT`` is set to.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=ROOT / ".cache" / "tune-fusion" / "index")
    ap.add_argument("--depth", type=int, default=50)
    args = ap.parse_args(argv)

    from eval.metrics import dedupe
    from eval.squad import SPLIT_FILE, read, read_article_split, write_corpus
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.retriever import Retriever
    from rag.store import IndexStore

    sf = read(DEV_A)
    embedder = Embedder()
    corpus = args.index.parent / "corpus"
    write_corpus(sf.documents, corpus)
    update_index(corpus, args.index, embedder)
    embedder.use_query_encoder()
    retriever = Retriever(IndexStore.open(args.index), embedder)
    doc_of = {cid: retriever.store.chunks[cid].doc_id for cid in retriever.store.chunks}
    titles = set(read_article_split(SPLIT_FILE)["tune"])
    runs: list[tuple[Ranking, Ranking, str]] = []
    for e in (e for e in sf.examples if e.title in titles):
        dense = retriever.store.search(embedder.encode_query(e.question), args.depth)
        runs.append((dense, retriever._lexical(e.question, args.depth, None), e.doc_id))

    def score(fusion: Fusion) -> tuple[float, float]:
        r1 = r5 = 0
        for dense, lexical, gold in runs:
            docs = dedupe(doc_of[cid] for cid in fusion(dense, lexical))
            r1 += docs[:1] == [gold]
            r5 += gold in docs[:5]
        return r1 / len(runs), r5 / len(runs)

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
    print(f"best convex: {best[0]} (recall@1 {best[1]:.4f}, recall@5 {best[2]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
