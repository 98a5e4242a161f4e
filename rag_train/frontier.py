"""How far the answering rule can get toward issue 12's v2.0 target pair: has-answer F1 and no-answer accuracy.

The shipped rule is chosen for expected F1 with 3 of 4 questions answerable, so it answers nearly
everything and refuses few of SQuAD 2.0's unanswerable questions. The issue's target asks for both
has-answer F1 >= 70 and no-answer accuracy >= 70 on the test half (v2.0, open). Whether any threshold and
ratio of the rule can give that is a question about how well the reader's scores separate answerable from
unanswerable questions, and it is measured here, honestly:

1. every v2.0 question of the tuning part (``select``) and of the ``test`` half is asked over all the
   file's paragraphs as ``ask`` asks it (the reader's own ``top_k`` and second stage; ``read_open``);
2. on ``select`` alone, the threshold and ratio (``OPEN_RATIOS``, every observed span score) that
   maximise the smaller of the two figures (the target's own criterion: both must pass) are chosen, and
   for each no-answer accuracy in ``--levels`` the rule with the best has-answer F1 that reaches it;
3. those rules, and the shipped one, are applied unchanged to the test half.

Also reported: how well each score alone orders the test questions by answerability (ROC AUC), and the
best balanced point the test half itself would allow (chosen on it, so an upper bound, never a rule).

    python -m rag_train.frontier [--reader rag/models/reader-minilm] [--out frontier.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from eval import squad
from rag.answer import answer_ratio
from rag.files import atomic_write_bytes
from rag_train.export import MIN_THRESHOLD, OPEN_RATIOS, read_open, score_one
from rag_train.rechoose import DATA, READER, open_assistant

Raw = dict[str, tuple[str, float, float]]


class Questions:
    """One question set's arrays: per question its span's F1 if answered, score, answer ratio, answerability."""

    def __init__(self, raw: Raw, examples: list[squad.SquadExample]) -> None:
        exs = [e for e in examples if e.qid in raw]
        self.answerable = np.array([not e.is_impossible for e in exs])
        self.f1 = np.array([score_one(raw[e.qid][0], e.answers)[1] if raw[e.qid][0] else 0.0 for e in exs])
        self.has_text = np.array([bool(raw[e.qid][0]) for e in exs])
        self.score = np.array([raw[e.qid][1] for e in exs])
        self.ratio = np.array([answer_ratio(raw[e.qid][1], raw[e.qid][2]) for e in exs])

    def figures(self, threshold: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
        """(has-answer F1, no-answer accuracy) in percent for each threshold at one ratio (the rule of
        ``AnswerSettings.accepts``: answer when score >= threshold and ratio >= ``ratio``)."""
        answered = (self.has_text & (self.ratio >= ratio))[None, :] & (self.score[None, :] >= threshold[:, None])
        has = np.where(answered, self.f1[None, :], 0.0)[:, self.answerable].mean(axis=1)
        no = (~answered)[:, ~self.answerable].mean(axis=1)
        return 100 * has, 100 * no

    def candidates(self) -> np.ndarray:
        """Every threshold the export could ship that changes a decision (at least ``MIN_THRESHOLD``: 0
        would mean 'never abstain'), plus one above all scores (answer nothing)."""
        above = np.nextafter(self.score.max(initial=0.0), np.inf)
        return np.unique(np.concatenate([[MIN_THRESHOLD], self.score[self.score > MIN_THRESHOLD], [above]]))


def sweep(q: Questions) -> list[tuple[float, float, float, float]]:
    """(threshold, ratio, has-answer F1, no-answer accuracy) for every rule worth trying on ``q``."""
    out = []
    thresholds = q.candidates()
    for ratio in OPEN_RATIOS:
        has, no = q.figures(thresholds, ratio)
        out += list(zip(thresholds.tolist(), [ratio] * len(thresholds), has.tolist(), no.tolist(), strict=True))
    return out


def balanced(rules: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """The rule whose smaller figure is largest (ties: the higher has-answer F1)."""
    return max(rules, key=lambda r: (min(r[2], r[3]), r[2]))


def at_level(rules: list[tuple[float, float, float, float]], level: float) -> tuple[float, float, float, float] | None:
    """The rule with the best has-answer F1 among those refusing at least ``level``% of the unanswerable."""
    ok = [r for r in rules if r[3] >= level]
    return max(ok, key=lambda r: (r[2], r[3])) if ok else None


def on(q: Questions, threshold: float, ratio: float) -> dict[str, float]:
    """One rule's figures on a question set."""
    has, no = q.figures(np.array([threshold]), ratio)
    return {"threshold": round(threshold, 6), "answer_ratio": ratio, "has_answer_f1": round(float(has[0]), 2),
            "no_answer_acc": round(float(no[0]), 2)}


def auc(q: Questions) -> dict[str, float]:
    """ROC AUC of 'answerable' for the span score and the answer ratio (0.5: no separation)."""
    from sklearn.metrics import roc_auc_score

    return {"span_score": round(float(roc_auc_score(q.answerable, q.score)), 3),
            "answer_ratio": round(float(roc_auc_score(q.answerable, q.ratio)), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA, help="SQuAD v2.0 file: corpus and questions")
    ap.add_argument("--reader", type=Path, default=READER)
    ap.add_argument("--levels", type=float, nargs="+", default=[30.0, 50.0, 70.0],
                    help="no-answer accuracies (percent) at which to report the best rule chosen on select")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args(argv)

    sf = squad.read(args.data)
    parts = squad.read_article_split(squad.SPLIT_FILE)
    qa = open_assistant(sf, args.reader)
    s = qa.settings
    sets: dict[str, Questions] = {}
    for part in ("select", "test"):
        wanted = set(parts[part])
        examples = [e for e in sf.examples if e.title in wanted]
        raw, _ = read_open(qa, examples, s.top_k, s.rerank_depth)
        sets[part] = Questions(raw, examples)
    select, test = sets["select"], sets["test"]
    rules = sweep(select)
    chosen = {"balanced": balanced(rules), **{f"no_answer>={lv:g}": at_level(rules, lv) for lv in args.levels}}

    def both(threshold: float, ratio: float) -> dict[str, dict[str, float]]:
        return {"select": on(select, threshold, ratio), "test": on(test, threshold, ratio)}

    result: dict[str, Any] = {
        "reader": str(args.reader), "top_k": s.top_k, "rerank_depth": s.rerank_depth,
        "questions": {"select": int(select.answerable.size), "test": int(test.answerable.size)},
        "shipped": both(s.threshold, s.answer_ratio),
        "chosen_on_select": {name: None if r is None else both(r[0], r[1]) for name, r in chosen.items()},
        "test_balanced_upper_bound": on(test, *balanced(sweep(test))[:2]),
        "test_auc_answerable": auc(test),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
