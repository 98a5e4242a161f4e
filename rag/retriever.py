"""Retrieve: a question -> Passages, fusing dense (FAISS) and lexical (BM25) rankings.

Fusion is a convex combination of the two rankers' scores, each min-max normalised over its own top
``depth`` hits (a chunk missing from a ranking gets 0 from it): ``w * dense + (1 - w) * bm25``, as txtai
and Haystack offer. The weight ``DENSE_WEIGHT`` was chosen on the dev-a tuning half
(``python -m eval.tune_fusion``): recall@1 0.835 there against 0.766 for reciprocal-rank fusion, which
this replaces (issue 13).

BM25 has no incremental add (bm25s builds a static index; 100,000 chunks take ~9 s). After a small
change to a large index, ``Retriever.updated`` keeps the big BM25 index (hits on chunks that are gone
are dropped) and indexes the added chunks in a second, small one, whose hits are merged by score; the
owner rebuilds the big one in the background and swaps it in (see ``Assistant``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from rag.embedding import TextEmbedder
from rag.errors import UnknownDocument
from rag.ingest import published_date
from rag.schema import Document, Passage
from rag.store import IndexStore

log = logging.getLogger(__name__)

DENSE_WEIGHT = 0.35  # of the dense ranker in the fusion; BM25 gets the rest (eval/tune_fusion.py)
BM25_K1 = 0.45  # term-frequency saturation: low, as suits short passages (eval/tune_fusion.py)
BM25_B = 0.75  # length normalisation (bm25s's default; the tuning half preferred no other)


def fuse(dense: list[tuple[int, float]], lexical: list[tuple[int, float]],
         dense_weight: float = DENSE_WEIGHT) -> dict[int, float]:
    """chunk id -> fused score in [0, 1]: each ranking's scores min-max normalised over its hits (all 1 when
    they are equal), weighted ``dense_weight`` and ``1 - dense_weight``, summed."""
    fused: dict[int, float] = {}
    for weight, ranking in ((dense_weight, dense), (1.0 - dense_weight, lexical)):
        if not ranking:
            continue
        scores = [s for _, s in ranking]
        lo, hi = min(scores), max(scores)
        for cid, s in ranking:
            norm = (s - lo) / (hi - lo) if hi > lo else 1.0
            fused[cid] = fused.get(cid, 0.0) + weight * norm
    return fused


def order_by_evidence(passages: list[Passage], evidence: list[float], weight: float) -> list[Passage]:
    """The second stage: ``passages`` re-ordered by ``score + weight * evidence`` (the fused retrieval score
    plus the reader's log-odds that the passage holds an answer, ``SpanReader.passage_evidence``), best
    first, ties in retrieval order; each keeps its scores and records its evidence and new rank."""
    if len(evidence) != len(passages):
        raise ValueError(f"{len(evidence)} evidence values for {len(passages)} passages")
    order = sorted(range(len(passages)), key=lambda i: (-(passages[i].score + weight * evidence[i]), i))
    return [passages[i].model_copy(update={"evidence": evidence[i], "rank": r}) for r, i in enumerate(order)]


class DocFilter(BaseModel):
    """Which articles a question may be answered from: published from ``since`` to ``until`` (both
    days included; an article without a whole publication date is left out by either) and by one of
    ``sources`` (the publication, compared without regard to case)."""

    model_config = ConfigDict(frozen=True)

    since: dt.date | None = None
    until: dt.date | None = None
    sources: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None or self.sources is not None

    def admits(self, doc: Document) -> bool:
        if self.since is not None or self.until is not None:
            day = published_date(doc.date)
            if day is None or (self.since is not None and day < self.since) or (
                    self.until is not None and day > self.until):
                return False
        if self.sources is not None:
            return (doc.source or "").casefold() in {s.casefold() for s in self.sources}
        return True

    def doc_ids(self, documents: Mapping[str, Document], within: Iterable[str] | None = None) -> list[str]:
        """The ids of ``documents`` (of ``within`` when given) that the filter admits."""
        ids = documents.keys() if within is None else [d for d in within if d in documents]
        return [d for d in ids if self.admits(documents[d])]


class LexicalIndex:
    """BM25 over chunk texts (bm25s with an English Snowball stemmer and stop words)."""

    def __init__(self, chunk_ids: list[int], texts: list[str], k1: float = BM25_K1, b: float = BM25_B) -> None:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.ERROR)
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        self.row_of = {cid: i for i, cid in enumerate(chunk_ids)}
        self._tokenizer = bm25s.tokenization.Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")
        self._bm25: Any = None
        if texts:
            tokens = self._tokenizer.tokenize(texts, return_as="ids", show_progress=False)
            self._bm25 = bm25s.BM25(k1=k1, b=b)
            self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def rows_for(self, chunk_ids: Iterable[int]) -> np.ndarray:
        """The rows of those of ``chunk_ids`` this index holds."""
        return np.asarray([self.row_of[c] for c in chunk_ids if c in self.row_of], dtype=np.int64)

    def search(self, query: str, k: int, allowed_rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk_id, BM25 score) pairs with a positive score, best first."""
        if self._bm25 is None or k <= 0:
            return []
        q = self._tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        q = [t for t in q if t != 0]  # id 0 is the empty / unknown token
        if not q:
            return []
        scores = np.asarray(self._bm25.get_scores(q), dtype=np.float32)
        if allowed_rows is not None:
            masked = np.zeros_like(scores)
            masked[allowed_rows] = scores[allowed_rows]
            scores = masked
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.chunk_ids[r]), float(scores[r])) for r in top if scores[r] > 0]


class Retriever:
    """Hybrid retrieval over one IndexStore; safe for concurrent readers."""

    def __init__(self, store: IndexStore, embedder: TextEmbedder, depth: int = 50,
                 lexical: LexicalIndex | None = None, recent: LexicalIndex | None = None,
                 dense_weight: float = DENSE_WEIGHT) -> None:
        self.store = store
        self.embedder = embedder
        self.depth = depth
        self.dense_weight = dense_weight
        if lexical is None:
            ids = sorted(store.chunks)
            lexical = LexicalIndex(ids, [store.chunks.text(i) for i in ids])
        self.lexical = lexical
        self.recent = recent  # chunks added since ``lexical`` was built (None: none)
        # chunks of ``lexical`` that are gone from the store: searched past, then dropped
        self._stale = len(lexical) - (len(store.chunks) - (len(recent) if recent is not None else 0))

    @property
    def complete(self) -> bool:
        """True when one BM25 index covers exactly the store's chunks (no small index, nothing stale)."""
        return self.recent is None and self._stale == 0

    def updated(self, store: IndexStore, added: Iterable[int]) -> Retriever:
        """A retriever over ``store``, a changed copy of this one's store whose new chunks are ``added``,
        without rebuilding the big BM25 index: the new chunks (and earlier recent ones) go in a small one."""
        earlier = self.recent.chunk_ids.tolist() if self.recent is not None else []
        recent_ids = [c for c in earlier if c in store.chunks]
        recent_ids += [c for c in added if c not in self.lexical.row_of]
        recent = LexicalIndex(recent_ids, [store.chunks.text(c) for c in recent_ids]) if recent_ids else None
        return Retriever(store, self.embedder, self.depth, lexical=self.lexical, recent=recent,
                         dense_weight=self.dense_weight)

    def _allowed(self, doc_ids: Iterable[str] | None) -> list[int] | None:
        if doc_ids is None:
            return None
        out: list[int] = []
        for d in doc_ids:
            entry = self.store.manifest.documents.get(d)
            if entry is None:
                raise UnknownDocument(f"no document {d!r} in the index")
            out.extend(entry.chunk_ids)
        return out

    def retrieve(self, question: str, k: int = 10, doc_ids: Iterable[str] | None = None,
                 query_vector: np.ndarray | None = None) -> list[Passage]:
        """The ``k`` best passages for ``question``, fused from both rankers, best first."""
        allowed = self._allowed(doc_ids)
        depth = max(self.depth, 4 * k)
        qvec = self.embedder.encode_query(question) if query_vector is None else query_vector
        dense = self.store.search(qvec, depth, allowed)
        lexical = self._lexical(question, depth, allowed)

        fused = fuse(dense, lexical, self.dense_weight)
        dense_of = dict(dense)
        lex_of = dict(lexical)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], -dense_of.get(kv[0], -1.0)))[:k]
        passages = []
        for rank, (cid, score) in enumerate(best):
            ch = self.store.chunks[cid]
            dense_score = dense_of.get(cid)
            if dense_score is None:  # outside the dense top `depth`: compute it exactly for the record
                dense_score = self._dense_score(qvec, cid)
            passages.append(
                Passage(
                    chunk_id=cid,
                    doc_id=ch.doc_id,
                    title=self.store.documents[ch.doc_id].title,
                    start=ch.start,
                    end=ch.end,
                    text=ch.text,
                    score=score,
                    dense_score=dense_score,
                    lexical_score=lex_of.get(cid),
                    rank=rank,
                )
            )
        return passages

    def _lexical(self, question: str, depth: int, allowed: list[int] | None) -> list[tuple[int, float]]:
        """BM25 hits on live chunks, best first, from the big index and the small one of recent chunks."""
        hits: list[tuple[int, float]] = []
        for index, extra in ((self.lexical, self._stale), (self.recent, 0)):
            if index is None:
                continue
            rows = None if allowed is None else index.rows_for(allowed)
            hits.extend(h for h in index.search(question, depth + extra, rows) if h[0] in self.store.chunks)
        if self.recent is not None:
            hits.sort(key=lambda h: -h[1])
        return hits[:depth]

    def _dense_score(self, qvec: np.ndarray, cid: int) -> float | None:
        hits = self.store.search(qvec, 1, [cid])
        return hits[0][1] if hits else None
