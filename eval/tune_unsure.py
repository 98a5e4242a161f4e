"""Choose the "not sure" band of an answerer from an evaluation report on tuning articles.

When the rule does not answer, the chat says "not sure" and shows the best candidates if the best of
them scored at least ``unsure_threshold``, else "the articles do not answer this". The band is chosen so
that "not sure" keeps at least ``--keep`` (default 90%) of the abstentions whose shown candidates hold a
right answer (F1 >= 0.5 with a gold answer: the highlighted words overlap the answer at least half), with
the highest threshold that does: "do not answer" then stays for questions where nothing came close. The
share of "not sure" lists that hold a right answer is measured at that threshold (``unsure_share``), and
the chat words its hint from it.

    rag eval ../shared/data/squad-v2.0-dev-a.json --articles Pharmacy --out /tmp/pharmacy.json
    python -m eval.tune_unsure /tmp/pharmacy.json [--write rag/models/reader-minilm/reader_config.json]

Use a report on articles the reader never trained on, of the tuning half (``--split select``); never the
seed questions or the test half.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from eval.metrics import candidate_hit as candidate_right
from rag.files import atomic_write_bytes


def choose(records: list[dict[str, Any]], keep: float = 0.9) -> dict[str, Any]:
    """The band's threshold and what it does on ``records`` (a report's predictions)."""
    abstained = [r for r in records if r["prediction"] is None and "error" not in r]
    right = sorted((r["score"] for r in abstained if candidate_right(r)), reverse=True)
    if not right:
        raise SystemExit("no abstention with a right candidate: nothing to choose the band on")
    need = max(1, int(-(-keep * len(right) // 1)))  # ceil
    threshold = right[need - 1]
    band = [r for r in abstained if r["score"] >= threshold]
    below = [r for r in abstained if r["score"] < threshold]
    return {
        "unsure_threshold": round(threshold, 6),
        "unsure_share": round(sum(candidate_right(r) for r in band) / len(band), 3),
        "questions": len(records), "abstained": len(abstained), "recoverable": len(right),
        "unsure": len(band), "unsure_recoverable": sum(candidate_right(r) for r in band),
        "unanswered": len(below), "unanswered_answerable": sum(bool(r["answerable"]) for r in below),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("report", type=Path, help="REPORT.json of rag eval on tuning articles")
    ap.add_argument("--keep", type=float, default=0.9, help="share of recoverable abstentions kept as 'not sure'")
    ap.add_argument("--write", type=Path, help="a reader_config.json to record the band in")
    args = ap.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    result = choose(report["predictions"], args.keep)
    result["report"] = str(args.report)
    print(json.dumps(result, indent=1))
    if args.write:
        config = json.loads(args.write.read_text(encoding="utf-8"))
        config.update(unsure_threshold=result["unsure_threshold"], unsure_share=result["unsure_share"])
        atomic_write_bytes(args.write, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
