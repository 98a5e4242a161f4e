"""The sentence fallback: the answering contract of ``rag.answer`` without a span reader.

It picks the sentence that best answers the question among the retrieved passages (embedding
similarity, word overlap, and whether the sentence holds the kind of thing asked for), quotes it, and
narrows it to a short span for who/when/where/how-many questions by surface patterns. It abstains
below its own threshold (``SENTENCE_THRESHOLD``). Used when no reader model is available, or with
``reader="sentence"``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rag.answer import AnswerSettings, candidate, question_share
from rag.chunking import split_sentences
from rag.embedding import TextEmbedder
from rag.schema import Answer, Candidate, Document, Passage
from rag.words import content_stems

SENTENCE_THRESHOLD = 0.45  # chosen on 600 tuning-half SQuAD v2.0 questions: eval/tune_threshold.py (docstring)
# Its rule: answer when the best sentence scores at least the threshold (no ratio, no passage or sentence weight).
SENTENCE_SETTINGS = AnswerSettings(threshold=SENTENCE_THRESHOLD, answer_ratio=0.0, passage_weight=0.0,
                                   sentence_weight=0.0)

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "number": re.compile(
        r"(?:(?:about|around|roughly|some|more than|fewer than|less than|up to|nearly|almost|over)\s+)?"
        r"\b\d[\d,.]*(?:\s*(?:percent|per cent|%|million|billion|thousand))?"
        r"(?:\s+(?:[A-Z]{2,}\s+)?[a-z]+)?"
        r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
        r"sixty|hundred|thousand)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?\s+[a-z]+",
        re.I,
    ),
    "date": re.compile(
        rf"\b{_MONTH}\s+\d{{1,2}}(?:,\s+\d{{4}})?|\b{_MONTH}(?:\s+\d{{4}})?|\b(?:1[89]|20)\d\d\b"
        r"|\b(?:this|last|next)\s+(?:week|month|year)|\bwithin the past \w+"
    ),
    "person": re.compile(
        r"\b(?:(?:Gen|Lt|Col|Adm|Maj|Capt|Dr|Mr|Mrs|Ms|Sen|Gov|Pres|President|Secretary-General|Secretary|"
        r"Minister|Chancellor|Prime Minister)\.?\s+)?[A-Z][a-z]+(?:\s+(?:[A-Z]\.|de|van|von|der|da|[A-Z][a-z]+))+"
    ),
    "place": re.compile(r"\b(?:in|at|from|to|near|across|on)\s+((?:the\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)"),
}


def question_type(question: str) -> str | None:
    """What kind of span the question asks for, when its wording says."""
    q = question.lower().strip()
    if re.search(r"\bhow (?:many|much|large|big|long)\b|\bwhat (?:number|size|percentage)\b", q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:year|month|day|date)\b|\bwhich (?:year|month)\b", q):
        return "date"
    if re.search(r"^who\b|\bwho (?:is|was|are|were|said|has|had)\b|\bwhose\b|\bwhich (?:person|official|general)\b|"
                 r"\bwhat is the name\b", q):
        return "person"
    if re.search(r"^where\b|\bwhich (?:city|country|countries|place|region)\b|\bin what (?:city|country)\b", q):
        return "place"
    return None


def narrow(sentence: str, qtype: str | None, question: str) -> tuple[int, int] | None:
    """A short answer inside ``sentence`` for typed questions: (start, end) relative to it."""
    if qtype is None:
        return None
    pattern = _PATTERNS[qtype]
    q_words = content_stems(question)
    best: tuple[int, int] | None = None
    best_near = -1
    for m in pattern.finditer(sentence):
        s, e = (m.start(1), m.end(1)) if qtype == "place" else (m.start(), m.end())
        text = sentence[s:e]
        if content_stems(text) and content_stems(text) <= q_words:
            continue  # what the question already says is not the answer
        # Prefer the candidate whose neighbourhood shares most words with the question.
        near = len(q_words & content_stems(sentence[max(0, s - 50) : e + 50]))
        if near > best_near:
            best, best_near = (s, e), near
    return best


@dataclass
class _Candidate:
    doc_id: str
    start: int
    end: int
    window_start: int  # the sentence with its neighbours, for context
    window_end: int
    chunk_id: int
    passage_similarity: float


# Feature weights, chosen by a coarse grid search on eval/seeds.jsonl (the threshold: eval/tune_threshold.py).
WEIGHTS = {"sentence": 0.6, "window": 0.3, "overlap": 0.3, "typed": 0.1, "passage": 0.2}


class SentenceAnswerer:
    """Quote the best sentence among the retrieved passages; narrow it when the question is typed."""

    name = "sentence"

    def __init__(self, embedder: TextEmbedder, settings: AnswerSettings = SENTENCE_SETTINGS,
                 cache_size: int = 50_000) -> None:
        self.embedder = embedder
        self.settings = settings
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> vector, least recently used first
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _vectors(self, texts: list[str]) -> np.ndarray:
        """Vectors for ``texts``, encoding only those not seen recently."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.embedder.encode_queries(missing) if missing else None  # ONNX when the index has it
        with self._lock:
            for t, v in zip(missing, fresh if fresh is not None else [], strict=True):
                self._cache[t] = v
            out = []
            for t in texts:
                v = self._cache.get(t)
                if v is None:  # evicted by a concurrent caller in between: encode again
                    v = self.embedder.encode_queries([t])[0]
                self._cache[t] = v
                self._cache.move_to_end(t)
                out.append(v)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return np.vstack(out)

    def score_sentences(self, question: str, passages: list[Passage], documents: Mapping[str, Document],
                        qvec: np.ndarray | None = None) -> list[tuple[float, _Candidate]]:
        """Every sentence of the passages with its score, best first."""
        seen: set[tuple[str, int]] = set()
        cands: list[_Candidate] = []
        for p in passages:
            doc = documents[p.doc_id]
            spans = split_sentences(doc.text)
            for i, (s, e) in enumerate(spans):
                if s >= p.start and e <= p.end and (p.doc_id, s) not in seen:
                    seen.add((p.doc_id, s))
                    lo, hi = spans[max(0, i - 1)][0], spans[min(len(spans) - 1, i + 1)][1]
                    cands.append(_Candidate(p.doc_id, s, e, lo, hi, p.chunk_id, p.dense_score or 0.0))
        if not cands:
            return []
        texts = [documents[c.doc_id].text[c.start : c.end] for c in cands]
        windows = [documents[c.doc_id].text[c.window_start : c.window_end] for c in cands]
        vecs = self._vectors(texts + windows)
        q = self.embedder.encode_query(question) if qvec is None else qvec
        sims = vecs @ q
        q_stems = content_stems(question)
        qtype = question_type(question)
        w = WEIGHTS
        scored = []
        for i, (c, text) in enumerate(zip(cands, texts, strict=True)):
            overlap = question_share(q_stems, text)
            typed = 1.0 if qtype and narrow(text, qtype, question) else 0.0
            raw = (w["sentence"] * float(sims[i]) + w["window"] * float(sims[len(cands) + i])
                   + w["overlap"] * overlap + w["typed"] * typed + w["passage"] * c.passage_similarity)
            scored.append((raw / sum(w.values()), c))
        scored.sort(key=lambda sc: -sc[0])
        return scored

    def answer(self, question: str, passages: list[Passage], documents: Mapping[str, Document],
               settings: AnswerSettings | None = None, query_vector: np.ndarray | None = None) -> Answer:
        s = settings or self.settings
        scored = self.score_sentences(question, passages, documents, query_vector)
        if not scored:
            return Answer(question=question, text=None, score=0.0, passages=passages, answerer="sentence")
        qtype = question_type(question)
        candidates: list[Candidate] = []
        for score, c in scored[: max(1, s.candidates)]:  # the first is the answer
            doc = documents[c.doc_id]
            span = narrow(doc.text[c.start : c.end], qtype, question)
            a_start, a_end = (c.start + span[0], c.start + span[1]) if span else (c.start, c.end)
            candidates.append(candidate(doc, a_start, a_end, score, c.chunk_id, s))
        score, best = float(np.clip(scored[0][0], 0.0, 1.0)), candidates[0]
        shown = candidates[: s.candidates]
        if not s.model_copy(update={"admission": None}).accepts(score, 0.0):  # a reader's model reads spans
            return Answer(question=question, text=None, score=score, passages=passages, answerer="sentence",
                          candidates=shown)
        return Answer(question=question, text=best.text, score=score, confidence=s.confidence_of(score),
                      citations=[best.citation], passages=passages, answerer="sentence", candidates=shown)
