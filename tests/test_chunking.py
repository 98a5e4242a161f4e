"""Chunking: sentence rules for news text, and offsets as a property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.chunking import approx_token_count, chunk_document, split_sentences
from rag.ingest import make_document


def sents(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_news_abbreviations_and_quotes() -> None:
    text = (
        'U.S. President Barack Obama spoke. He said Nato\'s commander, US Gen. John Craddock, started talks. '
        '"They just don\'t have the money," said a senior NATO diplomat. President George W. Bush declared it. '
        'The U.S. wants it to be a success. It will.'
    )
    assert sents(text) == [
        "U.S. President Barack Obama spoke.",
        "He said Nato's commander, US Gen. John Craddock, started talks.",
        '"They just don\'t have the money," said a senior NATO diplomat.',
        "President George W. Bush declared it.",
        "The U.S. wants it to be a success.",
        "It will.",
    ]


def test_quote_closing_sentence_and_newlines() -> None:
    text = '"Some allies feel the focus should be on the south."\n(China Daily August 1, 2003)'
    assert sents(text) == ['"Some allies feel the focus should be on the south."', "(China Daily August 1, 2003)"]
    assert sents("Is it? Yes! Numbers like 4.5 stay. Fine") == ["Is it?", "Yes!", "Numbers like 4.5 stay.", "Fine"]


def test_chunks_fit_and_overlap() -> None:
    text = " ".join(f"Sentence number {i} talks about NATO troops in Poland." for i in range(40))
    doc = make_document("d", text)
    chunks = chunk_document(doc, max_tokens=40, overlap=1)
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end  # one sentence shared
        assert b.start > a.start
    assert all(approx_token_count(c.text) <= 40 for c in chunks)
    no_overlap = chunk_document(doc, max_tokens=40, overlap=0)
    assert all(b.start >= a.end for a, b in zip(no_overlap, no_overlap[1:], strict=False))


def test_long_sentence_is_cut_at_words() -> None:
    doc = make_document("d", "word " * 300 + "end.")
    chunks = chunk_document(doc, max_tokens=50, overlap=0)
    assert len(chunks) > 5
    assert all(approx_token_count(c.text) <= 50 for c in chunks)
    assert chunks[-1].text.endswith("end.")


texts = st.lists(
    st.sampled_from(list("abcXYZ .,!?\"'\n-–5\t\r…é\u00a0") + ["\r\n", "U.S.", "Gen.", "Mr. ", "NATO", ". The "]),
    max_size=200,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(min_value=8, max_value=80), st.integers(min_value=0, max_value=3))
def test_offsets_property(raw: str, max_tokens: int, overlap: int) -> None:
    doc = make_document("d", raw)
    spans = split_sentences(doc.text)
    for (_s1, e1), (s2, _e2) in zip(spans, spans[1:], strict=False):
        assert e1 <= s2
    for s, e in spans:
        assert 0 <= s < e <= len(doc.text) and doc.text[s:e].strip() == doc.text[s:e]
    chunks = chunk_document(doc, max_tokens=max_tokens, overlap=overlap)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.text.strip()
    # Every non-blank character of the document lies in some chunk.
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())
