"""Re-choose a shipped reader's answering rule (passages read, threshold, answer ratio) on tuning articles.

The export chooses the rule once, at 5 passages. Reading fewer passages is what makes ``ask`` fast
(the reader is 95% of its time), but the threshold and the answer ratio depend on how many passages
compete, so they are chosen again for each ``top_k``:

1. every question of the tuning ``--articles`` (SQuAD v2.0 dev-a) is asked over all of that file's
   paragraphs, as ``rag eval`` asks it: the top ``k`` passages retrieved, spans weighted by retrieval
   and re-scored by their sentence (``Assistant.read``);
2. for each ``k`` the threshold and ratio that maximise expected F1 (questions re-weighted to
   ``ANSWERABLE_PRIOR`` answerable, ``rag_train.export.choose_threshold``) are chosen;
3. the smallest ``k`` whose expected F1 is within ``--tolerance`` points of the best ``k``'s is the
   shipped one (fewer passages: faster answers; the tolerance is fixed before the figures are seen).

``--write READER_DIR`` records top_k, threshold, answer ratio and (when the reader has one) a confidence
table refitted at that top_k in its ``reader_config.json``, and appends what was chosen to its model card.
The "not sure" band depends on them, so choose it again afterwards (``eval.tune_unsure``).

The default articles are the tuning-half articles reader I (ae0323e) never trained on: its model card's
held-out articles minus Harvard_University, which is in the test half. ``--split select`` takes every
article settings are chosen on (for a reader trained on ``fit`` alone).

    python -m rag_train.rechoose --top-k 2 3 4 5 [--split select] [--write rag/models/reader-minilm]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from eval import squad
from rag.assistant import Assistant
from rag.files import atomic_write_bytes
from rag.reader import READER_CONFIG
from rag_train.export import (
    ANSWERABLE_PRIOR,
    OPEN_RATIOS,
    apply_threshold,
    best_threshold,
    choose_threshold,
    fit_confidence,
    read_open,
    shipped_value,
    summarize,
)

DATA = Path("../shared/data/squad-v2.0-dev-a.json")
ARTICLES = ("Pharmacy", "Victoria_(Australia)")
READER = Path("rag/models/reader-minilm")


def open_assistant(sf: squad.SquadFile, reader: Path) -> Assistant:
    """An assistant with ``reader`` over every paragraph of ``sf`` (the corpus ``rag eval`` indexes for that
    file, same document ids), indexed afresh in a temporary folder."""
    work = Path(tempfile.mkdtemp(prefix="rag-open-"))
    corpus = squad.write_corpus(sf.documents, work / "corpus").parent
    return Assistant.build(corpus, index_dir=work / "index", reader=str(reader))


def rule_for(raw: dict[str, tuple[str, float, float]], examples: list[squad.SquadExample]) -> dict[str, Any]:
    """The (shipped-rounded) threshold and ratio with the highest expected F1, and what they give."""
    t, ratio, _ = choose_threshold(raw, examples, ratios=OPEN_RATIOS)
    threshold = shipped_value(t)
    scores = summarize(apply_threshold(raw, threshold, ratio), examples)

    def expected(at: float) -> float:
        return round(100 * best_threshold(raw, examples, ANSWERABLE_PRIOR, ratio, only=at)[1], 2)

    return {"threshold": threshold, "answer_ratio": ratio, "expected_f1": expected(threshold),
            "expected_f1_unrounded": expected(t), **{k: round(v, 2) for k, v in scores.items()}}


def record(reader: Path, result: dict[str, Any], rows: dict[int, dict[str, Any]],
           confidence: list[list[float]]) -> None:
    """Write the chosen rule into ``reader/reader_config.json`` (atomically) and append it to the card."""
    chosen = result["chosen"]
    path = reader / READER_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(top_k=chosen["top_k"], threshold=chosen["threshold"], answer_ratio=chosen["answer_ratio"],
                  rerank_depth=result.get("rerank_depth"))
    if "confidence" in config:
        config["confidence"] = confidence
    atomic_write_bytes(path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    lines = ["", "## Passages read (`python -m rag_train.rechoose`)", "",
             f"Chosen end to end on {result['questions']} SQuAD v2.0 questions of {', '.join(result['articles'])} "
             f"(asked over all dev-a v2.0 paragraphs; expected F1 with {result['prior']:.0%} answerable): the "
             f"smallest top_k within {result['tolerance']} point of the best. The rule of the sections above "
             f"is replaced by this one: **top_k {chosen['top_k']}**, threshold **{chosen['threshold']:.4f}**, "
             f"ratio **{chosen['answer_ratio']:.2f}**"
             + (f", the passages read being the first of {result['rerank_depth']} ordered by the reader's evidence "
                f"(rerank_depth)." if result.get("rerank_depth") else "."), "",
             "| top_k | threshold | ratio | expected F1 | EM | F1 | has-answer F1 | no-answer acc. | read p50 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k, r in sorted(rows.items()):
        mark = "**" if k == chosen["top_k"] else ""
        lines.append(f"| {mark}{k}{mark} | {r['threshold']} | {r['answer_ratio']} | {r['expected_f1']} | {r['exact']} "
                     f"| {r['f1']} | {r['HasAns_f1']} | {r['NoAns_accuracy']} | {r['read_p50_ms']} ms |")
    card = reader / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    head, _, rest = text.partition("\n## Passages read")
    later = rest.partition("\n## ")[2]  # the sections after this one stay
    text = head.rstrip("\n") + "\n" + "\n".join(lines) + "\n" + (f"\n## {later}" if later else "")
    atomic_write_bytes(card, text.encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="SQuAD v2.0 file: corpus and questions")
    ap.add_argument("--articles", nargs="+", default=list(ARTICLES), help="tuning articles (titles)")
    ap.add_argument("--split", choices=("select", "tune"),
                    help="instead of --articles: a part of eval/splits/dev-a.json")
    ap.add_argument("--reader", type=Path, default=READER)
    ap.add_argument("--top-k", type=int, nargs="+", default=[2, 3, 4, 5])
    ap.add_argument("--rerank-depth", type=int, help="read the first top_k of this many passages ordered by the "
                    "reader's evidence (ask's second stage, AnswerSettings.rerank_depth); default: none")
    ap.add_argument("--tolerance", type=float, default=1.0, help="expected-F1 points a smaller k may lose")
    ap.add_argument("--write", action="store_true", help="record the chosen rule in the reader's folder")
    args = ap.parse_args(argv)

    sf = squad.read(args.data)
    wanted = set(squad.read_article_split(squad.SPLIT_FILE)[args.split] if args.split else args.articles)
    examples = [e for e in sf.examples if e.title in wanted]
    if not examples:
        raise SystemExit(f"no question of {sorted(wanted)} in {args.data}")
    qa = open_assistant(sf, args.reader)
    rows: dict[int, dict[str, Any]] = {}
    raws: dict[int, dict[str, tuple[str, float, float]]] = {}
    for k in sorted(set(args.top_k)):
        raws[k], seconds = read_open(qa, examples, k, args.rerank_depth)
        rows[k] = {"top_k": k, **rule_for(raws[k], examples),
                   "read_p50_ms": round(1000 * statistics.median(seconds), 1)}
        print(json.dumps(rows[k]), flush=True)
    top = max(r["expected_f1"] for r in rows.values())
    chosen = min(k for k, r in rows.items() if r["expected_f1"] >= top - args.tolerance)
    result = {"articles": sorted(wanted), "questions": len(examples), "prior": ANSWERABLE_PRIOR,
              "rerank_depth": args.rerank_depth,
              "tolerance": args.tolerance, "chosen": rows[chosen]}
    print(json.dumps(result, indent=1))
    if args.write:
        record(args.reader, result, rows, fit_confidence(raws[chosen], examples, rows[chosen]["threshold"],
                                                         rows[chosen]["answer_ratio"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
