"""CI gate: run the seed set and fail when a figure drops below its floor in ``eval/floors.json``.

    python -m eval.check_floor [--report eval/reports/seeds-ci.json] [--index DIR]

Floors are percentages, set just under the figures measured on the real system; keys starting with
``_`` are notes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def check(report: dict[str, object], floors: dict[str, float]) -> list[str]:
    """One message per figure below its floor (a missing figure counts as below)."""
    failures = []
    for key, floor in floors.items():
        value = report.get(key)
        if not isinstance(value, int | float) or value < floor:
            failures.append(f"{key} = {value} is below the floor {floor}")
    return failures


def load_floors(path: Path = HERE / "floors.json") -> dict[str, float]:
    """The floors, without the ``_`` notes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: float(v) for k, v in data.items() if not k.startswith("_")}


def main(argv: list[str] | None = None) -> int:
    """Run the seed set; 0 when every floor holds, 1 otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=HERE / "seeds.jsonl")
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=Path("eval/reports/seeds-ci.json"))
    parser.add_argument("--floors", type=Path, default=HERE / "floors.json")
    args = parser.parse_args(argv)

    from eval.runner import run

    floors = load_floors(args.floors)
    report = run(args.dataset, corpus=args.corpus, index_dir=args.index, out=args.report,
                 progress=sys.stderr.isatty())
    for key in floors:
        print(f"{key}: {report.get(key)} (floor {floors[key]})")
    failures = check(report, floors)
    for message in failures:
        print(f"FAIL: {message}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
