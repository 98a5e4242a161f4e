"""Retriever: fusion, filters, and passage offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import UnknownDocument
from rag.indexer import update_index
from rag.retriever import Retriever
from rag.store import ChunkingConfig, IndexStore

from .conftest import FakeEmbedder


@pytest.fixture
def retriever(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> Retriever:
    update_index(seeds_copy, tmp_path / "i", fake_embedder, ChunkingConfig(max_tokens=60, overlap=1))
    return Retriever(IndexStore.open(tmp_path / "i"), fake_embedder)  # type: ignore[arg-type]


def test_ranks_and_offsets(retriever: Retriever) -> None:
    ps = retriever.retrieve("Who started talks with Jaap de Hoop Scheffer?", k=5)
    assert ps[0].doc_id == "001_537bed74b42447d1"
    assert [p.rank for p in ps] == list(range(len(ps)))
    assert all(a.score >= b.score for a, b in zip(ps, ps[1:], strict=False))
    for p in ps:
        assert retriever.store.documents[p.doc_id].text[p.start : p.end] == p.text
        assert p.dense_score is not None


def test_filter_by_doc_ids(retriever: Retriever) -> None:
    ps = retriever.retrieve("NATO", k=10, doc_ids=["002_656a127584ff5753"])
    assert ps and {p.doc_id for p in ps} == {"002_656a127584ff5753"}
    with pytest.raises(UnknownDocument):
        retriever.retrieve("NATO", doc_ids=["nope"])


def test_unknown_words_still_return_dense_results(retriever: Retriever) -> None:
    ps = retriever.retrieve("zzzqqq xxyyzz", k=3)  # BM25 finds nothing; the dense side still ranks passages
    assert len(ps) == 3 and all(p.dense_score is not None for p in ps)
    assert [p.rank for p in ps] == [0, 1, 2]


def test_fusion_is_a_convex_combination_of_normalised_scores() -> None:
    from rag.retriever import fuse

    dense = [(1, 0.9), (2, 0.7), (3, 0.5)]
    lexical = [(3, 12.0), (4, 6.0), (1, 2.0)]
    got = fuse(dense, lexical, dense_weight=0.4)
    assert got[1] == pytest.approx(0.4 * 1.0 + 0.6 * 0.0)
    assert got[2] == pytest.approx(0.4 * 0.5)  # absent from BM25: nothing from it
    assert got[3] == pytest.approx(0.4 * 0.0 + 0.6 * 1.0)
    assert got[4] == pytest.approx(0.6 * 0.4)
    assert all(0.0 <= v <= 1.0 for v in got.values())
    assert fuse([(7, 0.3)], [], 0.4) == {7: pytest.approx(0.4)}  # one hit (or equal scores) counts as the best
    assert fuse([], [], 0.4) == {}


def test_order_by_evidence_adds_the_readers_log_odds_to_the_fused_score() -> None:
    from rag.retriever import order_by_evidence
    from rag.schema import Passage

    ps = [Passage(chunk_id=i, doc_id=f"d{i}", title="t", start=0, end=1, text="x", score=s, rank=i)
          for i, s in enumerate([1.0, 0.9, 0.8, 0.8])]
    out = order_by_evidence(ps, [-5.0, 3.0, 0.0, 0.0], weight=0.05)  # 0.75, 1.05, 0.8, 0.8
    assert [p.chunk_id for p in out] == [1, 2, 3, 0]  # a tie keeps the retrieval order
    assert [p.rank for p in out] == [0, 1, 2, 3] and [p.evidence for p in out] == [3.0, 0.0, 0.0, -5.0]
    assert [p.score for p in out] == [0.9, 0.8, 0.8, 1.0]  # the fused scores are kept as they were
    assert [p.chunk_id for p in order_by_evidence(ps, [-5.0, 3.0, 0.0, 0.0], weight=0.0)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="3 evidence values for 4 passages"):
        order_by_evidence(ps, [0.0, 0.0, 0.0], weight=0.05)
