"""Answer: retrieved passages -> an ``Answer`` with verbatim, offset-exact citations.

The one answering component. ``AnswerSettings`` holds every knob of the answering rule (top_k,
threshold, answer ratio, passage weight, sentence weight) and the confidence calibration; it is loaded
from the reader's ``reader_config.json`` and can be overridden per call. ``SpanAnswerer`` applies it:

1. the span reader reads the passages (each span's probability weighted by its passage's retrieval
   cosine, ``exp(passage_weight * (cos - best cos))``);
2. ``rerank_by_sentence`` re-scores each span by how much of the question its sentence holds
   (``exp(sentence_weight * (share - best share))``);
3. ``decide`` answers with the best span when it scores at least ``threshold`` and
   ``best / (best + no_answer)`` reaches ``answer_ratio`` (threshold 0 never abstains); a reader whose
   config holds an admission model (``Admission``, fitted by ``rag_train.admission``) decides instead by
   the modelled probability that its best span is right, from ``admission_features``;
4. the answer is the span, and the quote is the whole sentence (or sentences) of the article holding it;
5. when it does not answer, the best candidates still come back, and ``Answer.status`` says "unsure" when
   the best of them reaches ``unsure_threshold`` (else "unanswered": nothing came close).

``Answer.score`` is the ranking score of step 2 (not a probability). ``Answer.confidence`` is the
estimated probability that the answer is exactly right, from a monotone table fitted on the tuning
articles (``confidence`` in ``reader_config.json``), or None when the reader has no such table.

``rag.sentence_answer`` is the second implementation of the same contract (the fallback without a reader).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.chunking import split_sentences
from rag.reader import READER_CONFIG, SpanReader, normalize_answer
from rag.retriever import order_by_evidence
from rag.schema import Answer, Candidate, Citation, Document, Passage, Span, Status
from rag.words import STOP_WORDS, content_stems

# How strongly a reader span is scaled by its sentence's share of the question's words, relative to the
# best sentence of the retrieved passages (``exp(weight * (share - best share))``); the reader's config
# may set its own (``sentence_weight``). Chosen on the tuning articles: eval/tune_sentence_weight.py.
SENTENCE_WEIGHT = 5.0


class Admission(BaseModel):
    """Whether to answer with the best span: a logistic regression over ``ADMISSION_FEATURES``, fitted on
    the tuning articles by ``rag_train.admission`` and recorded in ``reader_config.json``. It answers when
    the probability that the best span is right reaches ``threshold``."""

    model_config = ConfigDict(frozen=True)

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _known(self) -> Admission:
        unknown = [f for f in self.features if f not in ADMISSION_FEATURES]
        if unknown:
            raise ValueError(f"admission model uses features this version does not compute: {unknown}")
        if not len(self.features) == len(self.mean) == len(self.scale) == len(self.weights):
            raise ValueError("admission model: features, mean, scale and weights differ in length")
        return self

    def probability(self, features: Mapping[str, float]) -> float:
        """The modelled probability that answering with the best span is right."""
        z = self.bias + sum(w * (features[f] - m) / sc
                            for f, m, sc, w in zip(self.features, self.mean, self.scale, self.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class AnswerSettings(BaseModel):
    """How an answer is decided. Every caller (``ask``, the chat, ``/ask``, ``rag eval``, the export's
    calibration) uses one of these: the reader's own (``from_reader_config``) or an override of it."""

    model_config = ConfigDict(frozen=True)

    top_k: int = Field(default=5, ge=1, description="passages retrieved and read")
    threshold: float = Field(default=0.1, ge=0.0, description="minimum span score to answer; 0 never abstains")
    answer_ratio: float = Field(default=0.5, ge=0.0, le=1.0,
                                description="answer only if best / (best + no_answer) reaches it")
    passage_weight: float = Field(default=10.0, ge=0.0,
                                  description="beta of the retrieval weight exp(beta * (cos - best))")
    sentence_weight: float = Field(default=SENTENCE_WEIGHT, ge=0.0, description="w of exp(w * (share - best share))")
    candidates: int = Field(default=3, ge=0, description="distinct candidate answers returned with each answer")
    unsure_threshold: float | None = Field(
        default=None, ge=0.0, description="when the rule does not answer, a best candidate scoring at least this "
                                          "makes the answer 'unsure' (candidates shown) rather than 'unanswered'; "
                                          "None: never unsure")
    unsure_top_k: int | None = Field(
        default=None, ge=1, description="when not sure, the candidates shown come from this many passages, read "
                                        "again (the decision is unchanged); None: from the top_k read")
    unsure_share: float | None = Field(
        default=None, ge=0.0, le=1.0, description="measured on the tuning articles: the share of unsure answers "
                                                  "whose candidates hold a right answer (eval/tune_unsure.py)")
    rerank_depth: int | None = Field(
        default=None, ge=1, description="the second stage: this many passages are retrieved and ordered by "
                                        "score + rerank_weight * the reader's evidence before the first top_k "
                                        "are read; None: read the first top_k as retrieved")
    rerank_weight: float = Field(default=0.05, ge=0.0, description="of the reader's evidence in the second stage")
    confidence: tuple[tuple[float, float], ...] = Field(
        default=(), description="(score, P(exact)) knots, increasing, fitted on the tuning articles; "
                                "empty: uncalibrated")
    admission: Admission | None = Field(
        default=None, description="when set, it decides whether to answer instead of threshold and ratio "
                                  "(threshold 0 still never abstains; overriding the threshold drops it)")

    @classmethod
    def from_reader_config(cls, folder: Path | None) -> AnswerSettings:
        """The settings a reader folder's ``reader_config.json`` records (defaults for what it omits)."""
        path = folder / READER_CONFIG if folder is not None else None
        if path is None or not path.is_file():
            return cls()
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})

    @property
    def reranks(self) -> bool:
        """Whether the second stage runs: it orders more passages (``rerank_depth``) than are read."""
        return self.rerank_depth is not None and self.rerank_depth > self.top_k

    @property
    def retrieve_k(self) -> int:
        """How many passages a span reader's ``ask`` retrieves: the second stage's depth when it runs."""
        return max(self.top_k, self.rerank_depth or 0)

    def override(self, **changes: Any) -> AnswerSettings:
        """A copy with the given values (``None`` keeps the current one). A threshold other than the
        current one is a request for the plain threshold rule: the admission model is dropped."""
        update = {k: v for k, v in changes.items() if v is not None}
        if "threshold" in update and update["threshold"] != self.threshold and "admission" not in update:
            update["admission"] = None
        return self.model_copy(update=update)

    def accepts(self, best: float, no_answer: float, evidence: Mapping[str, float] | None = None) -> bool:
        """The answering rule. Threshold 0 always answers. With an admission model, its probability for
        ``evidence`` (``admission_features``) reaches its threshold; without one, the best span reaches
        ``threshold`` and beats the no-answer score by ``answer_ratio``."""
        if self.threshold <= 0:
            return True
        if self.admission is not None:
            if evidence is None:
                raise ValueError("these settings decide with an admission model: pass the evidence")
            return self.admission.probability(evidence) >= self.admission.threshold
        return best >= self.threshold and answer_ratio(best, no_answer) >= self.answer_ratio

    def status_of(self, answered: bool, best: float) -> Status:
        """The answer's state: answered by the rule; else unsure when the best candidate reaches
        ``unsure_threshold``; else unanswered (nothing came close)."""
        if answered:
            return "answered"
        if self.unsure_threshold is not None and best >= self.unsure_threshold:
            return "unsure"
        return "unanswered"

    def confidence_of(self, score: float) -> float | None:
        """The calibrated probability that an answer with this ranking score is exactly right, or None."""
        if not self.confidence:
            return None
        xs, ys = zip(*self.confidence, strict=True)
        return float(np.clip(np.interp(score, xs, ys), 0.0, 1.0))


def answer_ratio(best: float, no_answer: float) -> float:
    """``best / (best + no_answer)``: how strongly the best span beats the no-answer option."""
    total = best + no_answer
    return best / total if total > 0 else 0.0


class Answerer(Protocol):
    """The answering contract: passages in, an ``Answer`` (or an abstention) out, under ``settings``."""

    name: str
    settings: AnswerSettings

    def answer(self, question: str, passages: list[Passage], documents: Mapping[str, Document],
               settings: AnswerSettings | None = None, query_vector: np.ndarray | None = None) -> Answer: ...


def sentence_bounds(doc: Document, start: int, end: int) -> tuple[int, int]:
    """The smallest run of whole sentences of ``doc`` covering ``[start, end)``."""
    spans = split_sentences(doc.text)
    q_start, q_end = start, end
    for s, e in spans:
        if s <= start < e or (start <= s and e <= end) or (s < end <= e):
            q_start = min(q_start, s)
            q_end = max(q_end, e)
    return q_start, q_end


def citation_for(doc: Document, start: int, end: int, score: float, chunk_id: int | None,
                 answered: bool = True) -> Citation:
    """A citation quoting the sentence(s) around ``doc.text[start:end]``."""
    q_start, q_end = sentence_bounds(doc, start, end)
    return Citation(
        doc_id=doc.doc_id,
        title=doc.title,
        quote=doc.text[q_start:q_end],
        quote_start=q_start,
        quote_end=q_end,
        answer_start=start if answered else None,
        answer_end=end if answered else None,
        score=score,
        chunk_id=chunk_id,
    )


def answer_from_spans(question: str, spans: list[Span], no_answer_score: float, passages: list[Passage],
                      documents: Mapping[str, Document], settings: AnswerSettings, max_citations: int = 3) -> Answer:
    """The best span as the answer when ``settings`` accept it, else an abstention (``text=None``); either
    way with the best ``settings.candidates`` distinct spans as candidates."""
    candidates = candidates_of(spans, documents, settings)
    evidence = (admission_features(question, spans, no_answer_score, passages, documents)
                if spans and settings.admission is not None else None)
    if not spans or not settings.accepts(spans[0].score, no_answer_score, evidence):
        best_score = float(np.clip(spans[0].score, 0, 1)) if spans else 0.0
        return Answer(question=question, text=None, score=best_score, citations=[], passages=passages,
                      answerer="reader", candidates=candidates,
                      status=settings.status_of(False, best_score) if spans else "unanswered")
    best = spans[0]
    doc = documents[best.doc_id]
    if doc.text[best.start : best.end] != best.text:
        raise ValueError(f"reader span {best.text!r} does not match its offsets in {best.doc_id!r}")
    # the best span's candidate already holds its citation (same offsets and score)
    citations = [candidates[0].citation if candidates else citation_for(doc, best.start, best.end, best.score,
                                                                         best.chunk_id)]
    # Corroboration: the same answer, word for word, elsewhere (other articles or other sentences).
    for sp in spans[1:]:
        if len(citations) >= max_citations:
            break
        if sp.text != best.text:
            continue
        other = citation_for(documents[sp.doc_id], sp.start, sp.end, sp.score, sp.chunk_id)
        if all((c.doc_id, c.quote_start) != (other.doc_id, other.quote_start) for c in citations):
            citations.append(other)
    score = float(np.clip(best.score, 0.0, 1.0))
    return Answer(question=question, text=best.text, score=score, confidence=settings.confidence_of(score),
                  citations=citations, passages=passages, answerer="reader", candidates=candidates, status="answered")


def candidates_of(spans: list[Span], documents: Mapping[str, Document], settings: AnswerSettings) -> list[Candidate]:
    """The first ``settings.candidates`` of ``spans`` (best first, distinct) as candidates with quotes."""
    return [candidate(documents[sp.doc_id], sp.start, sp.end, sp.score, sp.chunk_id, settings)
            for sp in spans[: settings.candidates]]


def candidate(doc: Document, start: int, end: int, score: float, chunk_id: int | None,
              settings: AnswerSettings) -> Candidate:
    """``doc.text[start:end]`` as a candidate answer, quoted with the sentence(s) holding it."""
    if not 0 <= start < end <= len(doc.text):
        raise ValueError(f"candidate offsets {start}:{end} outside {doc.doc_id!r}")
    score = float(np.clip(score, 0.0, 1.0))
    return Candidate(text=doc.text[start:end], score=score, confidence=settings.confidence_of(score),
                     citation=citation_for(doc, start, end, score, chunk_id))


class SpanAnswerer:
    """The span reader's answers: read, re-score by sentence, decide, cite (see the module docstring)."""

    name = "reader"

    def __init__(self, reader: SpanReader, settings: AnswerSettings | None = None) -> None:
        self.reader = reader
        self.settings = settings or AnswerSettings.from_reader_config(reader.folder)

    def read(self, question: str, passages: list[Passage], documents: Mapping[str, Document],
             settings: AnswerSettings | None = None) -> tuple[list[Span], float]:
        """The candidate spans ``decide`` chooses from (best first) and the no-answer score."""
        s = settings or self.settings
        spans, no_answer = self.reader.read(question, passages, passage_weight=s.passage_weight)
        return rerank_by_sentence(question, spans, passages, documents, weight=s.sentence_weight), no_answer

    def rerank(self, question: str, passages: list[Passage], settings: AnswerSettings | None = None
               ) -> list[Passage]:
        """``passages`` in the second stage's order (``rag.retriever.order_by_evidence``): one reader pass over
        them, which ``read`` then reuses for the ones it reads."""
        s = settings or self.settings
        return order_by_evidence(passages, self.reader.passage_evidence(question, passages), s.rerank_weight)

    def answer(self, question: str, passages: list[Passage], documents: Mapping[str, Document],
               settings: AnswerSettings | None = None, query_vector: np.ndarray | None = None) -> Answer:
        s = settings or self.settings
        spans, no_answer = self.read(question, passages, documents, s)
        return answer_from_spans(question, spans, no_answer, passages, documents, s)


# The evidence the admission model (``Admission``) weighs, in this order. Each is cheap (no model run):
# the reader's own scores, how much of the question the passages hold, retrieval, and answer shape.
ADMISSION_FEATURES = (
    "log_best",  # log of the best span's ranking score
    "log_no_answer",  # log of the reader's no-answer score
    "ratio",  # best / (best + no_answer)
    "share_best",  # share of the question's content words in the best span's sentence
    "share_top",  # the highest such share among the sentences of the retrieved passages
    "missing_passage",  # share of the question's content words absent from the best span's passage
    "missing_names",  # share of the question's names and numbers absent from every retrieved passage
    "dense_top",  # cosine of the first retrieved passage
    "dense_best",  # cosine of the best span's passage
    "log_margin",  # log(best) - log(the best other answer's score)
    "agree",  # the share of the candidates' score held by spans with the best span's words
    "type_match",  # +1 the span has the shape the question asks for (a number, a name), -1 not, 0 no clue
    "log_length",  # log of the span's length in words
)
_EPS = 1e-4
_NUMBER_QUESTION = re.compile(r"^(how (many|much|long|old|far|large|big|tall|high)|when|what (year|percentage|"
                              r"percent|date|day|month|decade|century)|in what year|which year)\b", re.I)
_PERSON_QUESTION = re.compile(r"^(who|whom|whose)\b", re.I)
_MONTHS = re.compile(r"\b(january|february|march|april|may|june|july|august|september|october|november|"
                     r"december)\b", re.I)


def _names_and_numbers(question: str) -> set[str]:
    """The question's capitalised words (not its first word) and numbers, lower-cased."""
    words = re.findall(r"[A-Za-z0-9][\w'-]*", question)
    return {w.lower() for i, w in enumerate(words)
            if (any(c.isdigit() for c in w) or (i > 0 and w[0].isupper())) and w.lower() not in STOP_WORDS}


def _type_match(question: str, span: str) -> float:
    """+1 when the span has the shape the question asks for, -1 when it has not, 0 when the question
    gives no clue (only numbers and dates, and people, are checked)."""
    q = question.strip()
    if _NUMBER_QUESTION.search(q):
        return 1.0 if re.search(r"\d", span) or _MONTHS.search(span) else -1.0
    if _PERSON_QUESTION.search(q):
        return 1.0 if any(w[:1].isupper() for w in span.split()) else -1.0
    return 0.0


def admission_features(question: str, spans: list[Span], no_answer: float, passages: list[Passage],
                       documents: Mapping[str, Document]) -> dict[str, float]:
    """The evidence for answering with ``spans[0]`` (see ``ADMISSION_FEATURES``); ``spans`` as
    ``SpanAnswerer.read`` returns them (best first), at least one."""
    best = spans[0]
    q_stems = content_stems(question)
    by_chunk = {(p.doc_id, p.chunk_id): p for p in passages}
    home = by_chunk.get((best.doc_id, best.chunk_id))
    doc = documents[best.doc_id]
    s, e = sentence_bounds(doc, best.start, best.end)
    share_best = question_share(q_stems, doc.text[s:e])
    share_top = max(share_best, max(sentence_shares(q_stems, passages, documents).values(), default=0.0))
    home_text = doc.text[home.start : home.end] if home is not None else doc.text[s:e]
    missing_passage = len(q_stems - content_stems(home_text)) / max(1, len(q_stems))
    names = _names_and_numbers(question)
    seen = " ".join(documents[p.doc_id].text[p.start : p.end] for p in passages).lower()
    missing_names = sum(n not in seen for n in names) / len(names) if names else 0.0
    dense_top = passages[0].dense_score if passages and passages[0].dense_score is not None else 0.0
    dense_best = home.dense_score if home is not None and home.dense_score is not None else dense_top
    words = normalize_answer(best.text)
    other = max((sp.score for sp in spans[1:] if normalize_answer(sp.text) != words), default=0.0)
    total = sum(sp.score for sp in spans[:5])
    agree = sum(sp.score for sp in spans[:5] if normalize_answer(sp.text) == words) / total if total > 0 else 0.0
    return {
        "log_best": math.log(best.score + _EPS),
        "log_no_answer": math.log(no_answer + _EPS),
        "ratio": answer_ratio(best.score, no_answer),
        "share_best": share_best,
        "share_top": share_top,
        "missing_passage": missing_passage,
        "missing_names": missing_names,
        "dense_top": float(dense_top),
        "dense_best": float(dense_best),
        "log_margin": math.log(best.score + _EPS) - math.log(other + _EPS),
        "agree": agree,
        "type_match": _type_match(question, best.text),
        "log_length": math.log(1 + len(best.text.split())),
    }


def question_share(q_stems: set[str], text: str) -> float:
    """The share of the question's content words (stems) that ``text`` holds."""
    return len(q_stems & content_stems(text)) / max(1, len(q_stems))


def sentence_shares(q_stems: set[str], passages: list[Passage], documents: Mapping[str, Document]
                    ) -> dict[tuple[str, int], float]:
    """(doc id, sentence start) -> the share of ``q_stems`` in that sentence, for every sentence that
    overlaps a passage."""
    share: dict[tuple[str, int], float] = {}
    for p in passages:
        text = documents[p.doc_id].text
        for s, e in split_sentences(text):
            if s < p.end and e > p.start and (p.doc_id, s) not in share:
                share[(p.doc_id, s)] = question_share(q_stems, text[s:e])
    return share


def rerank_by_sentence(question: str, spans: list[Span], passages: list[Passage], documents: Mapping[str, Document],
                       weight: float = SENTENCE_WEIGHT) -> list[Span]:
    """``spans`` re-scored and re-sorted by how much of the question their sentence holds.

    The reader compares spans within a window well but across passages poorly: a confident span in a
    sentence about something else can beat the right one. Each span's score is scaled by
    ``exp(weight * (share - best))``, where ``share`` is the share of the question's content words in the
    span's sentence and ``best`` the highest share among the sentences of the retrieved passages, so a
    span in the sentence that best matches the question keeps its score. A lexical signal on purpose:
    it costs a fraction of a millisecond, where embedding every sentence costs ~400 ms a question on
    two cores.
    """
    if weight <= 0 or not spans:
        return spans
    q_stems = content_stems(question)
    if not q_stems:
        return spans
    share = sentence_shares(q_stems, passages, documents)
    best = max(share.values(), default=0.0)
    out = []
    for sp in spans:
        s, e = sentence_bounds(documents[sp.doc_id], sp.start, sp.end)
        key = (sp.doc_id, s)
        if key not in share:
            share[key] = question_share(q_stems, documents[sp.doc_id].text[s:e])
        w = math.exp(weight * (min(share[key], best) - best))
        out.append(sp.model_copy(update={"score": sp.score * w}))
    out.sort(key=lambda sp: -sp.score)
    return out
