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

``--wider K [K ...]`` also chooses how many passages the "not sure" candidates come from
(``unsure_top_k``): each abstention of the report is asked again with its candidates read from K passages
(the decision is the same), the band is chosen for each K as above, and the K whose "not sure" lists hold
a right answer for the largest share of the answerable abstentions wins (ties: the fewest passages; the
report's own top_k, read as it is, competes too). This asks questions: the report's corpus index and
reader must still be there.

    python -m eval.tune_unsure R.json --wider 3 4 5 --write DIR/reader_config.json
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
        "right_shown": round(sum(candidate_right(r) for r in band)
                             / max(1, sum(bool(r["answerable"]) for r in abstained)), 3),
    }


def report_assistant(report: dict[str, Any]) -> Any:
    """The assistant a report of open questions was made with: its corpus index and reader."""
    from eval.runner import build_assistant

    meta = report["meta"]
    if meta.get("mode") != "open":
        raise SystemExit("--wider needs a report of open questions (rag eval's default mode)")
    return build_assistant(Path(meta["corpus"]), Path(meta["index"]), meta["reader"])


def widened(report: dict[str, Any], wider: int, qa: Any) -> list[dict[str, Any]]:
    """The report's records, each abstention's candidates read again by ``qa`` from ``wider`` passages
    (public API: ``ask`` with ``unsure_top_k``; every abstention made "unsure" so that all get them)."""
    settings = qa.settings.override(unsure_threshold=0.0, unsure_top_k=wider)
    out = []
    for r in report["predictions"]:
        if r["prediction"] is None and "error" not in r:
            ans = qa.ask(r["question"], settings=settings)
            if ans.text is not None:
                raise SystemExit(f"question {r['id']} is answered now: the report is not this reader's")
            r = r | {"candidates": [c.text for c in ans.candidates]}
        out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("report", type=Path, help="REPORT.json of rag eval on tuning articles")
    ap.add_argument("--keep", type=float, default=0.9, help="share of recoverable abstentions kept as 'not sure'")
    ap.add_argument("--write", type=Path, help="a reader_config.json to record the band in")
    ap.add_argument("--wider", type=int, nargs="*", default=[],
                    help="also choose among these numbers of passages for the candidates (unsure_top_k)")
    args = ap.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    result = choose(report["predictions"], args.keep)
    result["unsure_top_k"] = None
    own = report["meta"].get("top_k")
    wider = [k for k in sorted(set(args.wider)) if own is None or k > own]
    qa = report_assistant(report) if wider else None
    for k in wider:
        row = choose(widened(report, k, qa), args.keep) | {"unsure_top_k": k}
        print(json.dumps(row), flush=True)
        if row["right_shown"] > result["right_shown"]:
            result = row
    result["report"] = str(args.report)
    print(json.dumps(result, indent=1))
    if args.write:
        config = json.loads(args.write.read_text(encoding="utf-8"))
        config.update(unsure_threshold=result["unsure_threshold"], unsure_share=result["unsure_share"])
        if args.wider:
            config["unsure_top_k"] = result["unsure_top_k"]
        atomic_write_bytes(args.write, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
