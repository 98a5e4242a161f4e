"""eval.paired: expected F1 from report scores and the paired bootstrap of a difference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.paired import compare, expected_f1, load_scores, main


def _report(path: Path, rows: list[tuple[str, float, bool]]) -> Path:
    preds = [{"id": i, "f1": f1, "answerable": ans, "prediction": "x" if f1 else None} for i, f1, ans in rows]
    path.write_text(json.dumps({"n": len(rows), "predictions": preds}), encoding="utf-8")
    return path


def test_expected_f1_reweights_the_two_kinds() -> None:
    f1 = np.array([1.0, 0.5, 0.0, 1.0, 0.0])  # answerable 1, 0.5, 0; unanswerable abstained, answered
    ans = np.array([True, True, True, False, False])
    assert expected_f1(f1, ans, 0.75) == pytest.approx(100 * (0.75 * 0.5 + 0.25 * 0.5))
    assert expected_f1(f1, ans, 1.0) == pytest.approx(50.0)


def test_identical_reports_differ_by_nothing(tmp_path: Path) -> None:
    rows = [(f"q{i}", float(i % 3 == 0), i % 2 == 0) for i in range(40)]
    a = load_scores(_report(tmp_path / "a.json", rows))
    out = compare(a, dict(a), resamples=200)
    assert out["a_minus_b"] == 0.0 and out["ci95"] == [0.0, 0.0] and out["a_ahead_share"] == 0.0


def test_a_better_on_every_question_has_an_interval_above_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows_b = [(f"q{i}", float(rng.random() < 0.4), i % 4 != 0) for i in range(200)]
    rows_a = [(i, min(1.0, f1 + 0.5), ans) for i, f1, ans in rows_b]
    out = compare(load_scores(_report(tmp_path / "a.json", rows_a)),
                  load_scores(_report(tmp_path / "b.json", rows_b)), resamples=500)
    assert out["a"] > out["b"] and out["ci95"][0] > 0 and out["a_ahead_share"] == 1.0
    assert out["ci95"][0] <= out["a_minus_b"] <= out["ci95"][1]


def test_reports_that_disagree_on_the_questions_are_refused(tmp_path: Path) -> None:
    a = _report(tmp_path / "a.json", [("q1", 1.0, True), ("q2", 0.0, False)])
    b = _report(tmp_path / "b.json", [("q1", 1.0, False), ("q2", 0.0, False)])
    assert main([str(a), str(b)]) == 2
    c = _report(tmp_path / "c.json", [("z1", 1.0, True)])
    with pytest.raises(ValueError, match="share no question"):
        compare(load_scores(a), load_scores(c))
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    assert main([str(tmp_path / "bad.json"), str(a)]) == 2
