"""Choose an answerer's abstention threshold on tuning questions (through the public API).

Every question is asked once with the threshold at 0, so each gets its best answer and score; then
each candidate threshold is scored by how many questions it handles right, the questions re-weighted to
``ANSWERABLE_PRIOR`` answerable as the reader's rule is: an answerable question is right when answered
with a top quote that holds a gold answer, an unanswerable one when abstained on. Ties go to the middle
of the best run of thresholds.

It is meant for the sentence fallback (``SENTENCE_THRESHOLD``), on the SQuAD v2.0 questions of the
tuning articles (``--split select``, a seeded sample: the fallback embeds every sentence it reads, about
0.4 s a question); never on the seed questions or the test half, which are for reporting.

    python -m eval.tune_threshold ../shared/data/squad-v2.0-dev-a.json --split select --limit 600
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.datasets import load_dataset, sample
from eval.runner import build_assistant, resolve_paths, select_articles
from eval.squad import ANSWERABLE_PRIOR, SPLIT_FILE, prior_weights, read_article_split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="a question set rag eval reads (SQuAD JSON or JSONL)")
    ap.add_argument("--split", help="a part of eval/splits/dev-a.json (tuning: select)")
    ap.add_argument("--corpus", type=Path, default=None, help="default: the dataset's own (as rag eval)")
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--reader", default="sentence")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="a seeded sample of this many questions")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.dataset.name == "seeds.jsonl":
        raise SystemExit("the seed questions are for reporting, never for tuning: use the tuning articles")
    ds = load_dataset(args.dataset)
    articles = read_article_split(SPLIT_FILE)[args.split] if args.split else None
    questions = sample(select_articles(ds, articles), args.limit, args.seed)
    corpus, index = resolve_paths(ds, args.corpus, args.index)
    qa = build_assistant(corpus, index, args.reader)
    rows = []
    for q in questions:
        ans = qa.ask(q.question, top_k=args.top_k, threshold=0.0)
        quote = ans.citations[0].quote if ans.citations else ""
        hit = ans.text is not None and any(a in quote for a in q.answers)
        rows.append((ans.score, q.answerable, hit))
    weights = prior_weights([ok for _, ok, _ in rows], ANSWERABLE_PRIOR)
    grid = [i / 200 for i in range(201)]
    weighted = list(zip(weights, rows, strict=True))
    right = [round(sum(w * ((s >= t and hit) if ok else (s < t)) for w, (s, ok, hit) in weighted), 9) for t in grid]
    best = max(right)
    run = [t for t, r in zip(grid, right, strict=True) if r == best]
    threshold = run[len(run) // 2]
    answerable = [r for r in rows if r[1]]
    n_ans = max(1, len(answerable))
    unanswerable = [r for r in rows if not r[1]]
    print(json.dumps({
        "reader": args.reader,
        "dataset": str(args.dataset), "split": args.split, "limit": args.limit, "seed": args.seed,
        "questions": len(rows), "prior": ANSWERABLE_PRIOR,
        "threshold": threshold,
        "right_at_threshold (weighted share)": best,
        "answerable_quote_hit_at_0": sum(h for _, _, h in answerable) / n_ans,
        "answerable_quote_hit_at_threshold": sum(h and s >= threshold for s, _, h in answerable) / n_ans,
        "unanswerable_abstained_at_threshold": sum(s < threshold for s, _, _ in unanswerable),
        "unanswerable": len(unanswerable),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
