"""Retrieve: a question -> Passages, fusing dense (FAISS) and lexical (BM25) rankings.

Reciprocal-rank fusion (Cormack et al., 2009) needs no score calibration between the two
rankers: each chunk scores ``sum(1 / (rrf_k + rank))`` over the rankings it appears in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from rag.embedding import Embedder
from rag.errors import UnknownDocument
from rag.schema import Passage
from rag.store import IndexStore

log = logging.getLogger(__name__)

RRF_K = 60


class LexicalIndex:
    """BM25 over chunk texts (bm25s with an English Snowball stemmer and stop words)."""

    def __init__(self, chunk_ids: list[int], texts: list[str]) -> None:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.ERROR)
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)
        self.row_of = {cid: i for i, cid in enumerate(chunk_ids)}
        self._tokenizer = bm25s.tokenization.Tokenizer(stemmer=Stemmer.Stemmer("english"), stopwords="en")
        self._bm25: Any = None
        if texts:
            tokens = self._tokenizer.tokenize(texts, return_as="ids", show_progress=False)
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokens, show_progress=False)

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

    def __init__(self, store: IndexStore, embedder: Embedder, depth: int = 50) -> None:
        self.store = store
        self.embedder = embedder
        self.depth = depth
        ids = sorted(store.chunks)
        self.lexical = LexicalIndex(ids, [store.chunks.text(i) for i in ids])

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
        rows = None
        if allowed is not None:
            rows = np.asarray([self.lexical.row_of[c] for c in allowed if c in self.lexical.row_of], dtype=np.int64)
        lexical = self.lexical.search(question, depth, rows)

        fused: dict[int, float] = {}
        for ranking in (dense, lexical):
            for rank, (cid, _) in enumerate(ranking):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + rank + 1)
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

    def _dense_score(self, qvec: np.ndarray, cid: int) -> float | None:
        hits = self.store.search(qvec, 1, [cid])
        return hits[0][1] if hits else None
