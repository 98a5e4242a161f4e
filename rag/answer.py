"""Answer: retrieved passages (and reader spans) -> an ``Answer`` with verbatim, offset-exact citations.

Two answerers share the citation logic:

- ``answer_from_spans`` takes the neural reader's spans (re-scored by ``rerank_by_sentence``: how much of
  the question their sentence holds): the best span is the answer, and the quote is the whole sentence
  (or sentences) of the article holding it.
- ``SentenceAnswerer`` is the fallback when no reader model is available: it picks the sentence that
  best answers the question (embedding similarity, word overlap, and whether the sentence holds the
  kind of thing asked for), quotes it, and narrows it to a short span for who/when/where/how-many
  questions by surface patterns.

Both abstain (``text=None``) below a threshold.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rag.chunking import split_sentences
from rag.embedding import Embedder
from rag.reader import accepts
from rag.schema import Answer, Citation, Document, Passage, Span

SENTENCE_THRESHOLD = 0.40  # tuned on eval/seeds.jsonl with eval/tune_threshold.py; see README
# How strongly a reader span is scaled by its sentence's share of the question's words, relative to the
# best sentence of the retrieved passages (``exp(weight * (share - best share))``). Chosen on the reader's
# held-out SQuAD articles, never on the seed questions: eval/tune_sentence_weight.py; docs/reader.md.
SENTENCE_WEIGHT = 5.0


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


def answer_from_spans(
    question: str,
    spans: list[Span],
    no_answer_score: float,
    passages: list[Passage],
    documents: Mapping[str, Document],
    threshold: float,
    max_citations: int = 3,
    answer_ratio: float = 0.5,
) -> Answer:
    """The reader's best span as the answer, or an abstention when it is not confident enough: the best
    span scores below ``threshold``, or the no-answer score wins (``best / (best + no_answer)`` below
    ``answer_ratio``; 0.5 is the plain comparison). Threshold and ratio both 0 always answer."""
    if not spans or not accepts(spans[0].score, no_answer_score, threshold, answer_ratio):
        return Answer(question=question, text=None, score=float(np.clip(1.0 - no_answer_score, 0, 1)) if spans else 0.0,
                      citations=[], passages=passages, answerer="reader")
    best = spans[0]
    doc = documents[best.doc_id]
    assert doc.text[best.start : best.end] == best.text, "reader span does not match its offsets"
    citations = [citation_for(doc, best.start, best.end, best.score, best.chunk_id)]
    # Corroboration: the same answer, word for word, elsewhere (other articles or other sentences).
    for sp in spans[1:]:
        if len(citations) >= max_citations:
            break
        if sp.text != best.text:
            continue
        other = citation_for(documents[sp.doc_id], sp.start, sp.end, sp.score, sp.chunk_id)
        if all((c.doc_id, c.quote_start) != (other.doc_id, other.quote_start) for c in citations):
            citations.append(other)
    return Answer(question=question, text=best.text, score=float(np.clip(best.score, 0.0, 1.0)),
                  citations=citations, passages=passages, answerer="reader")


def question_share(q_stems: set[str], text: str) -> float:
    """The share of the question's content words (stems) that ``text`` holds."""
    return len(q_stems & content_stems(text)) / max(1, len(q_stems))


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
    share: dict[tuple[str, int], float] = {}
    for p in passages:
        text = documents[p.doc_id].text
        for s, e in split_sentences(text):
            if s < p.end and e > p.start and (p.doc_id, s) not in share:
                share[(p.doc_id, s)] = question_share(q_stems, text[s:e])
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


# ---- the sentence answerer (fallback) ---------------------------------------------------------

_STOP = frozenset(
    """a an the of in on at to for from by with about as and or but is are was were be been being do does did
    has have had what which who whom whose when where why how many much that this these those it its
    their there than then into over under up down out not no yes can could would should will shall may might
    must say said says according""".split()
)
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


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[str], str]:
    import Stemmer

    st = Stemmer.Stemmer("english")
    return st.stemWord


def content_stems(text: str) -> set[str]:
    stem = _stemmer()
    return {stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


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

    def __init__(self, embedder: Embedder, threshold: float = SENTENCE_THRESHOLD, cache_size: int = 50_000) -> None:
        self.embedder = embedder
        self.threshold = threshold
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
               threshold: float | None = None, qvec: np.ndarray | None = None) -> Answer:
        threshold = self.threshold if threshold is None else threshold
        scored = self.score_sentences(question, passages, documents, qvec)
        if not scored:
            return Answer(question=question, text=None, score=0.0, passages=passages, answerer="sentence")
        score, best = scored[0]
        score = float(np.clip(score, 0.0, 1.0))
        if score < threshold:
            return Answer(question=question, text=None, score=score, passages=passages, answerer="sentence")
        doc = documents[best.doc_id]
        sentence = doc.text[best.start : best.end]
        span = narrow(sentence, question_type(question), question)
        a_start, a_end = (best.start + span[0], best.start + span[1]) if span else (best.start, best.end)
        cit = citation_for(doc, a_start, a_end, score, best.chunk_id)
        return Answer(question=question, text=doc.text[a_start:a_end], score=score, citations=[cit],
                      passages=passages, answerer="sentence")
