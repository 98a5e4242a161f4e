"""README's accuracy table: several readers on the same question sets, in one run (public API only).

Each question set is evaluated with each reader, one after the other in this process, each at its own
answering rule (``reader_config.json``: top_k, threshold, ratio), and one Markdown table puts the readers
side by side per set. The reports are written under ``--out`` as ``<set>-<reader>.json``; ``--reuse``
takes a report already there when it was made with the same reader folder, mode and articles (accuracy
does not depend on what else runs; latency does, so the table leaves it to ``bench.bench_latency``).

    python -m rag_train.previous ~/reader-i      # reader I, as shipped before reader III
    python -m eval.reader_table --reader "III=rag/models/reader-minilm" --reader "I=$HOME/reader-i"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.report import fmt
from eval.runner import run
from eval.squad import SPLIT_FILE, read_article_split

V1 = "../shared/data/squad-v1.1-dev-a.json"
V2 = "../shared/data/squad-v2.0-dev-a.json"
# Reader I (ae0323e) held these three articles out of its training and trained on the other dev-a
# articles, test half included: only here do reader I and a reader trained on the split's `fit` part
# compare fairly (Pharmacy and Victoria are tuning articles, Harvard_University a test one).
HELD = "held"
HELD_ARTICLES = ["Harvard_University", "Pharmacy", "Victoria_(Australia)"]
# (name, dataset, mode, split part or HELD or None): the seeds, the test half of dev-a (never chosen on), the
# articles no compared reader trained on
SETS: tuple[tuple[str, str, str, str | None], ...] = (
    ("seeds", "eval/seeds.jsonl", "open", None),
    ("seeds-gold", "eval/seeds.jsonl", "gold", None),
    ("v1.1-test", V1, "open", "test"),
    ("v1.1-test-gold", V1, "gold", "test"),
    ("v2.0-test", V2, "open", "test"),
    ("v1.1-held", V1, "open", HELD),
    ("v2.0-held", V2, "open", HELD),
)
COLUMNS = (("n", "n"), ("exact_match", "EM"), ("f1", "F1"), ("has_answer_f1", "has-answer F1"),
           ("no_answer_accuracy", "no-answer acc."), ("recall@1", "recall@1"), ("recall@5", "recall@5"),
           ("read@1", "read@1"), ("citation_accuracy", "citation acc."), ("quote_hit", "answer in top quote"))


def _reusable(path: Path, reader: str, mode: str, articles: list[str] | None) -> dict[str, Any] | None:
    """The report at ``path`` if it was made with this reader, mode and articles (else None)."""
    if not path.is_file():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    meta = report.get("meta", {})
    same = (meta.get("reader"), meta.get("mode"), meta.get("articles")) == (reader, mode, articles)
    return report if same and not meta.get("n_errors") else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reader", action="append", required=True, help="NAME=DIR (repeatable; first is the new one)")
    ap.add_argument("--sets", nargs="+", default=[s[0] for s in SETS], help="which question sets")
    ap.add_argument("--out", type=Path, default=Path("eval/reports/readers"))
    ap.add_argument("--reuse", action="store_true", help="take matching reports already under --out")
    args = ap.parse_args(argv)
    readers = [tuple(r.split("=", 1)) for r in args.reader]
    split = read_article_split(SPLIT_FILE)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for name, dataset, mode, part in SETS:
        if name not in args.sets:
            continue
        for label, folder in readers:
            out = args.out / f"{name}-{label}.json"
            articles = HELD_ARTICLES if part == HELD else split[part] if part else None
            report = _reusable(out, folder, mode, articles) if args.reuse else None
            if report is None:
                report = run(Path(dataset), mode=mode, out=out, progress=sys.stderr.isatty(), reader=folder,
                             articles=articles)
            results.setdefault(name, {})[label] = report
            print(json.dumps({"set": name, "reader": label, "top_k": report["meta"]["top_k"],
                              **{k: report.get(k) for k, _ in COLUMNS}}), flush=True)
    lines = ["| question set | mode | reader | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for name, dataset, mode, part in SETS:
        for label, _ in readers:
            r = results.get(name, {}).get(label)
            if r is not None:
                suffix = {None: "", HELD: " (Harvard, Pharmacy, Victoria)"}.get(part, f" --split {part}")
                where = Path(dataset).name + suffix
                lines.append(f"| {where} | {mode} | {label} (top_k {r['meta']['top_k']}) | "
                             + " | ".join(fmt(r.get(k), k) for k, _ in COLUMNS) + " |")
    table = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
