"""Pydantic models that are the seams between stages.

Every offset is a character offset into ``Document.text`` (the article exactly as read, newlines
normalised to ``\\n``), so ``document.text[start:end]`` always equals the text shown.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Document(BaseModel):
    """One article as read from the corpus."""

    model_config = ConfigDict(frozen=True)

    doc_id: str
    title: str
    text: str
    path: str | None = None  # path relative to the corpus folder (None for in-memory documents)
    aliases: list[str] = Field(default_factory=list)  # other paths/ids holding identical text
    date: str | None = None  # as written in the article or record, e.g. "August 1, 2003"
    url: str | None = None
    place: str | None = None  # dateline place, e.g. "BRUSSELS/WARSAW"
    source: str | None = None  # the publication: a web page's site name, else one named in the text
    author: str | None = None  # as a web page declares it
    language: str | None = None  # as a web page declares it (ISO 639-1)
    content_hash: str = ""  # sha256 of ``text``; drives incremental re-indexing


class Chunk(BaseModel):
    """A run of whole sentences of one document, small enough to embed in one pass."""

    model_config = ConfigDict(frozen=True)

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str


class Passage(BaseModel):
    """A retrieved chunk with its scores; ``score`` is the fused rank score (higher is better)."""

    chunk_id: int
    doc_id: str
    title: str
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None  # cosine similarity to the question
    lexical_score: float | None = None  # BM25 score
    rank: int = 0  # 0-based rank after fusion (after the second stage when one ordered the passages)
    evidence: float | None = None  # the reader's log-odds that the passage holds an answer, when it ordered them


class Span(BaseModel):
    """A candidate answer span found by a reader, in document offsets."""

    doc_id: str
    chunk_id: int
    start: int
    end: int
    text: str
    score: float  # ranking score in [0, 1]: probability x retrieval weight (x sentence weight after re-scoring)
    no_answer_score: float = 0.0  # the reader's belief that this passage holds no answer, in [0, 1]


class Citation(BaseModel):
    """A verbatim quote (whole sentence or sentences) supporting an answer."""

    doc_id: str
    title: str
    quote: str
    quote_start: int
    quote_end: int
    answer_start: int | None = None  # offsets of the answer inside the document (None: no answer)
    answer_end: int | None = None
    score: float = 0.0
    chunk_id: int | None = None


class Candidate(BaseModel):
    """One of the best distinct answers, with its own citation (offsets exact as always)."""

    text: str
    score: float = Field(ge=0.0, le=1.0)  # ranking score
    confidence: float | None = None  # calibrated P(exactly right); None: not calibrated
    citation: Citation


Status = Literal["answered", "unsure", "unanswered"]


class Answer(BaseModel):
    """What ``Assistant.ask`` returns; ``text is None`` means the articles do not say.

    ``status`` is one of three honest states: "answered" (``text`` holds the answer); "unsure" (no answer
    by the rule, but the best ``candidates`` came close: shown as such, not as an answer); "unanswered"
    (nothing came close).
    """

    question: str
    text: str | None
    score: float = Field(ge=0.0, le=1.0)  # ranking score of the best candidate (not a probability)
    confidence: float | None = None  # calibrated P(the answer is exactly right); None: not calibrated
    citations: list[Citation] = Field(default_factory=list)
    # everything retrieved, best first (in the second stage's order when one ran)
    passages: list[Passage] = Field(default_factory=list)
    answerer: Literal["reader", "sentence", "none"] = "none"  # which layer produced the answer
    # the best distinct answers, best first, whether or not the rule answered (``text`` is the first
    # when it did): what an unsure assistant can still show
    candidates: list[Candidate] = Field(default_factory=list)
    notice: str | None = None  # e.g. "question truncated to 2,000 characters"
    status: Status = "unanswered"  # "answered" whenever ``text`` is set (see the validator)
    # the question as resolved against the conversation (``rag.followup``) when it was read as a follow-up
    # (its words may equal ``question``'s: then only retrieval used the previous turn); None: it stood alone
    resolved_question: str | None = None

    @model_validator(mode="after")
    def _status_matches_text(self) -> Answer:
        """An answer with text is "answered" (so callers need not say it); one without cannot be."""
        if self.text is not None:
            object.__setattr__(self, "status", "answered")
        elif self.status == "answered":
            raise ValueError("an answer without text cannot have status 'answered'")
        return self


class Turn(BaseModel):
    """One earlier turn of a conversation, as ``ask(history=...)`` takes it."""

    model_config = ConfigDict(frozen=True)

    question: str  # as asked
    resolved: str | None = None  # as resolved against the turn before it (None: as asked)
    answer: str | None = None  # the answer given (None: none)

    @classmethod
    def of(cls, answer: Answer) -> Turn:
        """The turn an ``Answer`` records."""
        return cls(question=answer.question, resolved=answer.resolved_question, answer=answer.text)
