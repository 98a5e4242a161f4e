"""Choose an answerer's abstention threshold on a JSONL question set (through the public API).

Every question is asked once with the threshold at 0, so each gets its best answer and score; then
each candidate threshold is scored by how many questions it handles right: an answerable question
is right when answered with a top quote that holds a gold answer, an unanswerable one when
abstained on. Ties go to the middle of the best run of thresholds.

    python -m eval.tune_threshold eval/seeds.jsonl --reader sentence
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from rag import Assistant


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--corpus", type=Path, default=Path("seeds"))
    ap.add_argument("--index", type=Path, default=None)
    ap.add_argument("--reader", default="sentence")
    ap.add_argument("--top-k", type=int, default=5)
    args = ap.parse_args(argv)
    index = args.index or Path(tempfile.mkdtemp(prefix="rag-tune-")) / "index"
    qa = Assistant.build(args.corpus, index_dir=index, reader=args.reader)
    rows = []
    for line in args.dataset.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        ans = qa.ask(q["question"], top_k=args.top_k, threshold=0.0)
        quote = ans.citations[0].quote if ans.citations else ""
        hit = ans.text is not None and any(a in quote for a in q["answers"])
        rows.append((ans.score, bool(q["answerable"]), hit))
    grid = [i / 200 for i in range(201)]
    right = [sum((s >= t and hit) if ok else (s < t) for s, ok, hit in rows) for t in grid]
    best = max(right)
    run = [t for t, r in zip(grid, right, strict=True) if r == best]
    threshold = run[len(run) // 2]
    answerable = [r for r in rows if r[1]]
    n_ans = max(1, len(answerable))
    unanswerable = [r for r in rows if not r[1]]
    print(json.dumps({
        "reader": args.reader,
        "questions": len(rows),
        "threshold": threshold,
        "right_at_threshold": best,
        "answerable_quote_hit_at_0": sum(h for _, _, h in answerable) / n_ans,
        "answerable_quote_hit_at_threshold": sum(h and s >= threshold for s, _, h in answerable) / n_ans,
        "unanswerable_abstained_at_threshold": sum(s < threshold for s, _, _ in unanswerable),
        "unanswerable": len(unanswerable),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
