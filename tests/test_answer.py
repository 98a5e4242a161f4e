"""Answer layer: question types, narrowing, span answers and their citations."""

from __future__ import annotations

import math

from rag.answer import answer_from_spans, narrow, question_type, rerank_by_sentence, sentence_bounds
from rag.ingest import make_document
from rag.schema import Passage, Span

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
    ans = answer_from_spans("q", [_span("Gen. John Craddock", 0.9), _span("Budapest", 0.3)], 0.05, passages,
                            {"d": DOC}, threshold=0.5)
    assert ans.text == "Gen. John Craddock" and ans.answerer == "reader"
    c = ans.citations[0]
    assert TEXT[c.quote_start : c.quote_end] == c.quote and TEXT[c.answer_start : c.answer_end] == ans.text  # type: ignore[misc]
    assert len(ans.citations) == 1
    low = answer_from_spans("q", [_span("Budapest", 0.3)], 0.1, passages, {"d": DOC}, threshold=0.5)
    assert low.text is None and low.citations == []
    no = answer_from_spans("q", [_span("Budapest", 0.6)], 0.8, passages, {"d": DOC}, threshold=0.5)
    assert no.text is None
    # threshold and ratio 0 (what ask(threshold=0) passes): never abstain, however strong the no-answer score
    always = answer_from_spans("q", [_span("Budapest", 0.01)], 0.99, passages, {"d": DOC}, threshold=0.0,
                               answer_ratio=0.0)
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
