"""rag_train.frontier: the rule's figures per threshold and the rules chosen on them (synthetic scores)."""

from __future__ import annotations

import numpy as np

from eval.squad import SquadExample
from rag.answer import AnswerSettings
from rag_train.frontier import Questions, at_level, balanced, on, sweep


def _example(qid: str, answer: str | None) -> SquadExample:
    answers = [answer] if answer else []
    return SquadExample(qid=qid, title="T", context="c", question="q?", answers=answers,
                        answer_starts=[0] * len(answers))


EXAMPLES = [_example("a1", "Paris"), _example("a2", "1999"), _example("a3", "red car"),
            _example("n1", None), _example("n2", None)]
# (best span, its score, no-answer score)
RAW = {"a1": ("Paris", 0.9, 0.05), "a2": ("1999", 0.3, 0.2), "a3": ("blue car", 0.2, 0.6),
       "n1": ("Rome", 0.5, 0.1), "n2": ("2001", 0.05, 0.4)}


def test_figures_follow_the_answering_rule() -> None:
    q = Questions(RAW, EXAMPLES)
    for threshold in (0.001, 0.1, 0.25, 0.6):
        for ratio in (0.5, 0.2):
            rule = AnswerSettings(threshold=threshold, answer_ratio=ratio)
            answered = {k: rule.accepts(s, na) for k, (_, s, na) in RAW.items()}
            f1 = {"a1": 1.0, "a2": 1.0, "a3": 0.5}
            has = 100 * sum(f1[k] for k in f1 if answered[k]) / 3
            no = 100 * sum(not answered[k] for k in ("n1", "n2")) / 2
            got = on(q, threshold, ratio)
            assert np.isclose(got["has_answer_f1"], round(has, 2)) and np.isclose(got["no_answer_acc"], no)


def test_balanced_and_level_rules() -> None:
    rules = sweep(Questions(RAW, EXAMPLES))
    t, ratio, has, no = balanced(rules)
    # refusing n2 costs nothing; refusing n1 too (score 0.5) would cost a2 and a3: the best balanced
    # rule answers the three answerable (F1 1, 1, 0.5) and n1, and refuses n2
    assert (round(has, 2), no) == (83.33, 50.0)
    assert all(min(r[2], r[3]) <= min(has, no) for r in rules)
    best_full = at_level(rules, 100.0)
    assert best_full is not None and best_full[3] == 100.0
    assert at_level(rules, 101.0) is None
