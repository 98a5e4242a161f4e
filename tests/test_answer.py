"""Answer layer: question types, narrowing, span answers and their citations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.answer import (
    ADMISSION_FEATURES,
    Admission,
    AnswerSettings,
    admission_features,
    answer_from_spans,
    rerank_by_sentence,
    sentence_bounds,
)
from rag.ingest import make_document
from rag.schema import Passage, Span
from rag.sentence_answer import narrow, question_type

TEXT = (
    "He said Nato's supreme allied commander, US Gen. John Craddock, started talks. "
    "The force will have 4,000 troops. It met on May 1 in Budapest."
)
DOC = make_document("d", TEXT)


def test_question_types() -> None:
    assert question_type("How many troops are in the force?") == "number"
    assert question_type("When did they meet?") == "date"
    assert question_type("Who is the supreme allied commander?") == "person"
    assert question_type("Where did the ministers meet?") == "place"
    assert question_type("Why is unity crucial?") is None


def test_narrow() -> None:
    s = "He said Nato's supreme allied commander, US Gen. John Craddock, started talks."
    start, end = narrow(s, "person", "Who is the supreme allied commander?")  # type: ignore[misc]
    assert s[start:end] == "Gen. John Craddock"
    s2 = "The force will have 4,000 troops."
    start, end = narrow(s2, "number", "How many troops?")  # type: ignore[misc]
    assert s2[start:end] == "4,000 troops"


def test_sentence_bounds() -> None:
    i = TEXT.index("4,000")
    s, e = sentence_bounds(DOC, i, i + 5)
    assert TEXT[s:e] == "The force will have 4,000 troops."
    j = TEXT.index("troops.")
    s, e = sentence_bounds(DOC, j, TEXT.index("May 1") + 5)
    assert TEXT[s:e] == "The force will have 4,000 troops. It met on May 1 in Budapest."


def _span(text: str, score: float, start: int | None = None) -> Span:
    s = TEXT.index(text) if start is None else start
    return Span(doc_id="d", chunk_id=0, start=s, end=s + len(text), text=text, score=score)


def test_answer_from_spans_and_abstain() -> None:
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0)]
    rule = AnswerSettings(threshold=0.5)
    ans = answer_from_spans("q", [_span("Gen. John Craddock", 0.9), _span("Budapest", 0.3)], 0.05, passages,
                            {"d": DOC}, rule)
    assert ans.text == "Gen. John Craddock" and ans.answerer == "reader"
    c = ans.citations[0]
    assert TEXT[c.quote_start : c.quote_end] == c.quote and TEXT[c.answer_start : c.answer_end] == ans.text  # type: ignore[misc]
    assert len(ans.citations) == 1
    assert ans.confidence is None  # no calibration table: no confidence is claimed
    low = answer_from_spans("q", [_span("Budapest", 0.3)], 0.1, passages, {"d": DOC}, rule)
    assert low.text is None and low.citations == []
    no = answer_from_spans("q", [_span("Budapest", 0.6)], 0.8, passages, {"d": DOC}, rule)
    assert no.text is None
    # threshold 0 (what ask(threshold=0) passes): never abstain, however strong the no-answer score
    always = answer_from_spans("q", [_span("Budapest", 0.01)], 0.99, passages, {"d": DOC}, rule.override(threshold=0))
    assert always.text == "Budapest" and always.citations[0].quote_start <= TEXT.index("Budapest")


def test_rerank_by_sentence() -> None:
    """A span in the sentence holding most of the question's words overtakes a likelier span elsewhere;
    the best-matching sentence's span keeps its score; offsets and texts are untouched."""
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0)]
    spans = [_span("Gen. John Craddock", 0.6), _span("Budapest", 0.3)]
    q = "Where has it met?"  # one content word, "met": only the last sentence holds it
    ranked = rerank_by_sentence(q, spans, passages, {"d": DOC}, weight=5.0)
    assert [sp.text for sp in ranked] == ["Budapest", "Gen. John Craddock"]
    assert ranked[0].score == 0.3
    assert math.isclose(ranked[1].score, 0.6 * math.exp(-5.0 * 1.0))  # its sentence shares none of them
    for sp in ranked:
        assert TEXT[sp.start : sp.end] == sp.text
    assert rerank_by_sentence(q, spans, passages, {"d": DOC}, weight=0.0) == spans
    assert rerank_by_sentence("the of?", spans, passages, {"d": DOC}) == spans  # no content words: unchanged


def test_answer_settings_rule_overrides_and_confidence(tmp_path: Path) -> None:
    rule = AnswerSettings(threshold=0.2, answer_ratio=0.5)
    assert rule.accepts(0.5, 0.1) and not rule.accepts(0.5, 0.6)  # no-answer wins
    assert not rule.accepts(0.1, 0.01)  # below the threshold
    strict = rule.override(answer_ratio=0.8, top_k=None)
    assert strict.top_k == rule.top_k and strict.answer_ratio == 0.8
    assert not strict.accepts(0.5, 0.2) and strict.accepts(0.5, 0.1)  # 0.5 / 0.7 < 0.8 <= 0.5 / 0.6
    assert rule.override(threshold=0.0).accepts(0.0001, 0.99)  # 0 never abstains
    with pytest.raises(ValidationError):
        AnswerSettings(answer_ratio=1.5)
    assert rule.confidence_of(0.3) is None
    cal = rule.model_copy(update={"confidence": ((0.1, 0.2), (0.5, 0.6), (0.9, 0.9))})
    assert cal.confidence_of(0.05) == pytest.approx(0.2) and cal.confidence_of(0.3) == pytest.approx(0.4)
    assert cal.confidence_of(1.0) == pytest.approx(0.9)
    # loaded from a reader folder's config: known keys only, defaults for the rest
    (tmp_path / "reader_config.json").write_text(json.dumps({"threshold": 0.042, "answer_ratio": 0.2, "max_len": 256,
                                                             "confidence": [[0.1, 0.3], [0.5, 0.7]]}))
    loaded = AnswerSettings.from_reader_config(tmp_path)
    assert loaded.threshold == 0.042 and loaded.answer_ratio == 0.2 and loaded.top_k == 5
    assert loaded.confidence_of(0.3) == pytest.approx(0.5)
    assert AnswerSettings.from_reader_config(tmp_path / "absent") == AnswerSettings()


def test_the_second_stage_runs_only_when_it_orders_more_passages_than_are_read() -> None:
    staged = AnswerSettings(top_k=1, rerank_depth=3)
    assert staged.reranks and staged.retrieve_k == 3
    for plain in (AnswerSettings(top_k=2), AnswerSettings(top_k=3, rerank_depth=3),
                  AnswerSettings(top_k=5, rerank_depth=3)):
        assert not plain.reranks and plain.retrieve_k == plain.top_k


def test_candidates_are_distinct_ordered_and_exact_whether_or_not_answered() -> None:
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0)]
    spans = [_span("Gen. John Craddock", 0.3), _span("4,000 troops", 0.2), _span("Budapest", 0.1),
             _span("May 1", 0.05)]
    answered = answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, AnswerSettings(threshold=0.2))
    unsure = answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, AnswerSettings(threshold=0.5))
    assert answered.text == "Gen. John Craddock" and unsure.text is None
    for ans in (answered, unsure):
        assert [c.text for c in ans.candidates] == ["Gen. John Craddock", "4,000 troops", "Budapest"]  # default 3
        assert [c.score for c in ans.candidates] == sorted((c.score for c in ans.candidates), reverse=True)
        for c in ans.candidates:
            cit = c.citation
            assert TEXT[cit.quote_start : cit.quote_end] == cit.quote
            assert TEXT[cit.answer_start : cit.answer_end] == c.text  # type: ignore[misc]
    assert answer_from_spans("q", spans, 0.05, passages, {"d": DOC},
                             AnswerSettings(threshold=0.2, candidates=0)).candidates == []


def test_three_states_follow_the_rule_and_the_unsure_band() -> None:
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0)]
    spans = [_span("Gen. John Craddock", 0.3), _span("Budapest", 0.1)]
    band = AnswerSettings(threshold=0.5, unsure_threshold=0.25)
    assert answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, band.override(threshold=0.2)).status == "answered"
    assert answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, band).status == "unsure"
    low = answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, band.override(unsure_threshold=0.4))
    assert low.status == "unanswered" and low.candidates  # the candidates are still there for the API
    no_band = answer_from_spans("q", spans, 0.05, passages, {"d": DOC}, AnswerSettings(threshold=0.5))
    assert no_band.status == "unanswered"
    assert answer_from_spans("q", [], 1.0, passages, {"d": DOC}, band).status == "unanswered"


def test_admission_features_read_the_question_the_passages_and_the_span() -> None:
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0,
                        dense_score=0.6)]
    spans = [_span("4,000 troops", 0.4), _span("Budapest", 0.1), _span("4,000 troops", 0.1, TEXT.index("4,000"))]
    f = admission_features("How many troops will the force have?", spans, 0.1, passages, {"d": DOC})
    assert tuple(f) == ADMISSION_FEATURES
    assert f["type_match"] == 1.0 and f["share_best"] == 1.0 and f["missing_passage"] == 0.0
    assert f["ratio"] == pytest.approx(0.8) and f["dense_top"] == f["dense_best"] == pytest.approx(0.6)
    assert f["agree"] == pytest.approx(0.5 / 0.6)  # two of the spans say the same words
    assert f["log_margin"] == pytest.approx(math.log(0.4001) - math.log(0.1001))
    # a name the passages lack (the mark of many unanswerable questions) and a span of the wrong shape
    g = admission_features("How many troops will Hungary send?", [_span("Budapest", 0.4)], 0.1, passages,
                           {"d": DOC})
    assert g["missing_names"] == 1.0 and g["type_match"] == -1.0
    assert admission_features("Who started talks?", [_span("Gen. John Craddock", 0.4)], 0.1, passages,
                              {"d": DOC})["type_match"] == 1.0


def test_admission_model_decides_when_present_and_a_new_threshold_drops_it() -> None:
    passages = [Passage(chunk_id=0, doc_id="d", title=DOC.title, start=0, end=len(TEXT), text=TEXT, score=1.0)]
    n = len(ADMISSION_FEATURES)
    # answers exactly when the question's names are all in the passages (weight -10 on missing_names)
    model = Admission(features=ADMISSION_FEATURES, mean=(0.0,) * n, scale=(1.0,) * n,
                      weights=tuple(-10.0 if f == "missing_names" else 0.0 for f in ADMISSION_FEATURES),
                      bias=5.0, threshold=0.5)
    rule = AnswerSettings(threshold=0.9, admission=model)  # the plain rule would refuse a 0.3 span
    spans = [_span("4,000 troops", 0.3)]
    yes = answer_from_spans("How many troops will the force have?", spans, 0.5, passages, {"d": DOC}, rule)
    no = answer_from_spans("How many troops will Hungary send?", spans, 0.01, passages, {"d": DOC}, rule)
    assert yes.text == "4,000 troops" and no.text is None
    assert rule.override(top_k=3).admission == model and rule.override(threshold=0.9).admission == model
    plain = rule.override(threshold=0.2)  # the user's own threshold: the plain rule again
    assert plain.admission is None and plain.accepts(0.3, 0.01)
    assert rule.override(threshold=0.0).accepts(0.0, 1.0)  # 0 still never abstains
    with pytest.raises(ValueError, match="evidence"):
        rule.accepts(0.3, 0.01)
    with pytest.raises(ValidationError, match="does not compute"):
        Admission(features=("made_up",), mean=(0.0,), scale=(1.0,), weights=(1.0,), bias=0.0, threshold=0.5)
    with pytest.raises(ValidationError, match="length"):
        Admission(features=("ratio",), mean=(0.0, 1.0), scale=(1.0,), weights=(1.0,), bias=0.0, threshold=0.5)
