"""Choose the sentence weight (``sentence_weight`` in the reader's config) on the tuning articles (public API).

Each answerable question is asked the way ``Assistant.ask`` asks it (top-k passages retrieved over the
whole corpus, the reader's spans weighted by retrieval); its spans are then re-scored by
``rerank_by_sentence`` at each candidate weight, and the best span is scored as if always answering:
EM / F1 and whether the sentence quoted for it holds a gold answer. The weight with the best mean EM
over the question sets wins (ties: the smaller weight). The seed questions are never used to choose:
pass them with ``--report`` to see the effect there.

    python -m eval.tune_sentence_weight ../shared/data/squad-v2.0-dev-a.json ../shared/data/squad-v1.1-dev-a.json \\
        --report eval/seeds.jsonl      # default --articles: the 'select' part of eval/splits/dev-a.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.datasets import Question, load_dataset
from eval.metrics import score_prediction
from eval.runner import resolve_paths, select_articles
from eval.squad import SPLIT_FILE, read_article_split
from rag import Assistant
from rag.answer import rerank_by_sentence, sentence_bounds
from rag.schema import Document, Passage, Span

WEIGHTS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0)
TUNING = ",".join(read_article_split(SPLIT_FILE)["select"])  # the tuning half's selection articles


Row = tuple[Question, list[Span], list[Passage], dict[str, Document]]


def collect(path: Path, articles: Sequence[str] | None, top_k: int) -> list[Row]:
    """Per answerable question: the reader's spans (before re-scoring), the passages and their documents."""
    ds = load_dataset(path)
    corpus, index_dir = resolve_paths(ds, None, None)
    qa = Assistant.build(corpus, index_dir=index_dir)
    if qa.answerer_name != "reader":
        raise SystemExit("no span reader: nothing to tune")
    raw = qa.settings.override(sentence_weight=0.0)  # the spans before re-scoring
    out = []
    for q in select_articles(ds, articles if ds.kind == "squad" else None):
        if not q.answerable:
            continue
        passages = qa.retrieve(q.question, k=top_k)
        spans, _ = qa.read(q.question, passages, settings=raw)
        out.append((q, spans, passages, {p.doc_id: qa.document(p.doc_id) for p in passages}))
    return out


def score(rows: list[Row], weight: float) -> dict[str, float]:
    """Always answering with the best re-scored span: EM, F1 and quote hit, in percent."""
    em = f1 = hit = 0.0
    for q, spans, passages, docs in rows:
        ranked = rerank_by_sentence(q.question, spans, passages, docs, weight=weight)
        if not ranked:
            continue
        best = ranked[0]
        e, f = score_prediction(best.text, q.answers)
        s, t = sentence_bounds(docs[best.doc_id], best.start, best.end)
        em, f1 = em + e, f1 + f
        hit += any(a in docs[best.doc_id].text[s:t] for a in q.answers)
    n = max(1, len(rows))
    return {"em": round(100 * em / n, 2), "f1": round(100 * f1 / n, 2), "quote_hit": round(100 * hit / n, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", type=Path, nargs="+", help="SQuAD files (their --articles choose the weight)")
    ap.add_argument("--articles", default=TUNING, help="SQuAD article titles, comma-separated (default: the "
                    "'select' articles of eval/splits/dev-a.json)")
    ap.add_argument("--report", type=Path, nargs="*", default=[], help="question sets only reported, never used")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="write the table as JSON here too")
    args = ap.parse_args(argv)
    t0 = time.time()
    articles = [a for a in args.articles.split(",") if a]
    tuning = {str(p): collect(p, articles, args.top_k) for p in args.datasets}
    reported = {str(p): collect(p, None, args.top_k) for p in args.report}
    table = []
    for w in WEIGHTS:
        row: dict[str, Any] = {"weight": w}
        row.update({name: score(rows, w) for name, rows in {**tuning, **reported}.items()})
        row["tuning_em"] = round(sum(row[n]["em"] for n in tuning) / len(tuning), 2)
        table.append(row)
        print(json.dumps(row))
    best = max(table, key=lambda r: (r["tuning_em"], -r["weight"]))
    result = {"chosen_weight": best["weight"], "articles": articles, "top_k": args.top_k,
              "questions": {n: len(r) for n, r in {**tuning, **reported}.items()}, "table": table,
              "seconds": round(time.time() - t0, 1)}
    print(json.dumps({"chosen_weight": best["weight"], "at_chosen": best}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
