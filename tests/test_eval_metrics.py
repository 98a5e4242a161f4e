"""EM/F1 with the official SQuAD normalisation, retrieval ranks, and the published reference scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval.datasets import load_squad
from eval.metrics import gold_rank, percentile, summarize
from eval.squad import exact_match, f1_score, score_prediction
from rag import normalize_answer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# (predictions, data file, EM, F1, HasAns EM, HasAns F1, NoAns accuracy) from ../shared/data/README.md
REFERENCE = [
    ("squad-v1.1-dev-a.bert-ensemble-predictions.json", "squad-v1.1-dev-a.json",
     86.196, 91.982, 86.196, 91.982, None),
    ("squad-v1.1-dev-a.logistic-regression-predictions.json", "squad-v1.1-dev-a.json",
     39.788, 50.553, 39.788, 50.553, None),
    ("squad-v2.0-dev-a.bert-single-predictions.json", "squad-v2.0-dev-a.json",
     77.862, 81.120, 74.134, 80.639, 81.602),
]


def test_normalize_answer_follows_the_official_rule() -> None:
    assert normalize_answer("The  Quick, brown-fox!") == "quick brownfox"
    assert normalize_answer("an apple a day") == "apple day"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words
    assert normalize_answer("  A  ") == ""


def test_exact_match_and_f1() -> None:
    assert exact_match("the Eiffel Tower.", "Eiffel tower") == 1
    assert exact_match("Eiffel", "Eiffel Tower") == 0
    assert f1_score("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    assert f1_score("Paris", "Eiffel Tower") == 0.0
    assert f1_score("tower tower", "tower") == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_no_answer_scoring() -> None:
    assert score_prediction(None, []) == (1, 1.0)
    assert score_prediction("", []) == (1, 1.0)
    assert score_prediction("Paris", []) == (0, 0.0)
    assert score_prediction(None, ["Paris"]) == (0, 0.0)
    assert score_prediction("the", ["Paris"]) == (0, 0.0)


def test_score_is_the_max_over_gold_answers() -> None:
    assert score_prediction("1,000 troops", ["about 1,000 troops", "1,000 troops"]) == (1, 1.0)
    em, f1 = score_prediction("1,000", ["about 1,000 troops", "4,000"])
    assert em == 0 and f1 == pytest.approx(0.5)  # "1000" against "about 1000 troops"


@given(st.text(max_size=40), st.text(max_size=40))
def test_f1_is_bounded_and_symmetric(a: str, b: str) -> None:
    assert 0.0 <= f1_score(a, b) <= 1.0
    assert f1_score(a, b) == pytest.approx(f1_score(b, a))
    if exact_match(a, b):
        assert f1_score(a, b) == 1.0


def test_gold_rank_collapses_duplicate_documents() -> None:
    assert gold_rank(["x", "x", "y", "gold"], "gold") == 3
    assert gold_rank(["gold", "x"], "gold") == 1
    assert gold_rank(["x"], "gold") is None


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)


def test_summarize_splits_and_abstention() -> None:
    recs = [
        {"em": 1, "f1": 1.0, "answerable": True, "prediction": "a", "doc_id": "d1", "gold_rank": 1,
         "citation_ok": True, "latency_ms": 10.0, "quote_hit": True, "read_doc_id": "d1"},
        {"em": 0, "f1": 0.5, "answerable": True, "prediction": None, "doc_id": "d1", "gold_rank": 3,
         "citation_ok": None, "latency_ms": 20.0, "quote_hit": False, "read_doc_id": "d3"},
        {"em": 1, "f1": 1.0, "answerable": False, "prediction": None, "doc_id": None, "citation_ok": None,
         "latency_ms": 30.0},
        {"em": 0, "f1": 0.0, "answerable": False, "prediction": "b", "doc_id": "d2", "gold_rank": None,
         "citation_ok": None, "latency_ms": 40.0},
    ]
    s = summarize(recs)
    assert s["exact_match"] == 50.0 and s["f1"] == pytest.approx(62.5)
    assert s["has_answer_exact_match"] == 50.0 and s["has_answer_f1"] == 75.0
    assert s["no_answer_accuracy"] == 50.0
    assert s["abstention_precision"] == 50.0 and s["abstention_recall"] == 50.0
    assert s["n_retrieval"] == 3  # the question without a gold document is left out
    assert s["recall@1"] == pytest.approx(100 / 3) and s["recall@5"] == pytest.approx(200 / 3)
    assert s["mrr"] == pytest.approx((1 + 1 / 3) / 3)
    assert s["read@1"] == 50.0  # over the records that note the passage read
    assert s["citation_accuracy"] == 100.0 and s["n_citation"] == 1
    assert s["quote_hit"] == 50.0  # over the answerable questions; the abstention has no quote
    assert s["latency_ms_p50"] == 25.0


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"SQuAD data not present at {SHARED} (../shared/data)")
@pytest.mark.parametrize(("preds", "data", "em", "f1", "has_em", "has_f1", "no_acc"), REFERENCE,
                         ids=[r[0].split(".json")[0] for r in REFERENCE])
def test_reproduces_published_reference_scores(preds: str, data: str, em: float, f1: float, has_em: float,
                                               has_f1: float, no_acc: float | None) -> None:
    ds = load_squad(SHARED / data)
    predictions = json.loads((SHARED / preds).read_text(encoding="utf-8"))
    records = []
    for q in ds.questions:
        prediction = predictions[q.id] or None  # an empty string means "no answer"
        q_em, q_f1 = score_prediction(prediction, q.answers)
        records.append({"em": q_em, "f1": q_f1, "answerable": q.answerable, "prediction": prediction})
    s = summarize(records)
    assert s["n"] == len(predictions)
    assert s["exact_match"] == pytest.approx(em, abs=0.01)
    assert s["f1"] == pytest.approx(f1, abs=0.01)
    assert s["has_answer_exact_match"] == pytest.approx(has_em, abs=0.01)
    assert s["has_answer_f1"] == pytest.approx(has_f1, abs=0.01)
    if no_acc is None:
        assert s["no_answer_accuracy"] is None
    else:
        assert s["no_answer_accuracy"] == pytest.approx(no_acc, abs=0.01)


def test_recall_at_counts_the_gold_document_among_the_first_k_distinct() -> None:
    from eval.metrics import recall_at

    ranked = [["a", "a", "b"], ["c", "d"], []]
    assert recall_at(ranked, ["b", "d", "x"], 1) == 0.0
    assert recall_at(ranked, ["b", "d", "x"], 2) == pytest.approx(2 / 3)  # "a" twice counts once
    assert recall_at([], [], 5) == 0.0


def test_unsure_band_keeps_the_right_candidates_and_counts_them() -> None:
    from eval.tune_unsure import choose

    def rec(score: float, answerable: bool, cands: list[str]) -> dict[str, object]:
        return {"prediction": None, "score": score, "answerable": answerable,
                "answers": ["Budapest"] if answerable else [], "candidates": cands}

    records = [rec(0.5, True, ["Budapest"]), rec(0.4, True, ["x", "in Budapest"]), rec(0.3, True, ["Paris"]),
               rec(0.2, False, ["Budapest"]), rec(0.01, True, ["Budapest"]),
               {"prediction": "Budapest", "score": 0.9, "answerable": True, "answers": ["Budapest"], "candidates": []}]
    band = choose(records, keep=0.6)  # 3 right abstentions: the band keeps the best 2 (ceil 1.8)
    assert band["unsure_threshold"] == 0.4 and band["unsure"] == 2 and band["unsure_share"] == 1.0
    assert band["right_shown"] == 0.5  # 2 of the 4 answerable abstentions show a right answer
    assert choose(records, keep=1.0)["unsure_threshold"] == 0.01
