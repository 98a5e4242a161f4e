"""Store and indexer: incremental updates, atomic saves, corruption and mismatch detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.changes import CHANGES_FILE
from rag.errors import EmptyCorpus, IndexCorrupt, IndexMismatch, IndexMissing
from rag.indexer import update_index
from rag.store import MANIFEST, ChunkingConfig, IndexStore

from .conftest import FakeEmbedder


def build(corpus: Path, index: Path, emb: FakeEmbedder, **kw: object):  # type: ignore[no-untyped-def]
    return update_index(corpus, index, emb, ChunkingConfig(max_tokens=60, overlap=1), **kw)  # type: ignore[arg-type]


def test_incremental_add_change_remove(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    index = tmp_path / "index"
    r1 = build(seeds_copy, index, fake_embedder)
    assert len(r1.added) == 3 and r1.chunks_embedded == r1.chunks
    r2 = build(seeds_copy, index, fake_embedder)
    assert not r2.changed and r2.unchanged == 3 and r2.chunks_embedded == 0

    (seeds_copy / "new.txt").write_text("Canada agreed to lead the fourth battalion in Latvia.")
    (seeds_copy / "001_537bed74b42447d1.txt").unlink()
    p = seeds_copy / "000_dcecbc81de0b1c39.txt"
    p.write_text(p.read_text() + "\nAn extra closing sentence.")
    r3 = build(seeds_copy, index, fake_embedder)
    assert r3.added == ["new"] and r3.removed == ["001_537bed74b42447d1"] and r3.updated == ["000_dcecbc81de0b1c39"]
    assert r3.unchanged == 1
    store = IndexStore.open(index)
    assert set(store.documents) == {"000_dcecbc81de0b1c39", "002_656a127584ff5753", "new"}
    assert store.vectors.ntotal == len(store.chunks) == sum(len(e.chunk_ids) for e in store.manifest.documents.values())
    for c in store.chunks.values():
        assert store.documents[c.doc_id].text[c.start : c.end] == c.text
    # Only the current generation's files remain (beside the lock and the record of changes).
    names = {p.name for p in index.iterdir()}
    assert names == {MANIFEST, ".lock", CHANGES_FILE} | {e.name for e in store.manifest.files.values()}


def test_search_and_filter(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(seeds_copy, tmp_path / "i", fake_embedder)
    store = IndexStore.open(tmp_path / "i")
    q = fake_embedder.encode_query("Craddock contingency plans")
    hits = store.search(q, 3)
    assert store.chunks[hits[0][0]].doc_id == "001_537bed74b42447d1"
    only = store.manifest.documents["002_656a127584ff5753"].chunk_ids
    assert {cid for cid, _ in store.search(q, 5, only)} <= set(only)


def test_switches_to_ivf_past_threshold(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"d{i}.txt").write_text(f"Story {i} about topic{i % 7} and place{i % 5}. " * 3)
    build(corpus, tmp_path / "i", fake_embedder, approx_threshold=40)
    store = IndexStore.open(tmp_path / "i")
    assert store.manifest.index_type == "ivf" and store.vectors.ntotal == len(store.chunks)
    q = fake_embedder.encode_query("Story 3 about topic3")
    assert store.search(q, 5)
    (corpus / "d0.txt").unlink()
    build(corpus, tmp_path / "i", fake_embedder)  # IVF supports removal
    assert IndexStore.open(tmp_path / "i").vectors.ntotal == len(IndexStore.open(tmp_path / "i").chunks)


def test_missing_truncated_and_mismatched(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    index = tmp_path / "i"
    with pytest.raises(IndexMissing, match="build it from a corpus folder"):
        IndexStore.open(index)
    build(seeds_copy, index, fake_embedder)
    manifest = json.loads((index / MANIFEST).read_text())

    vec = index / manifest["files"]["vectors"]["name"]
    data = vec.read_bytes()
    vec.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match=vec.name + r".*rebuild the index"):
        IndexStore.open(index)
    vec.write_bytes(data)
    docs = index / manifest["files"]["documents"]["name"]
    docs.unlink()
    with pytest.raises(IndexCorrupt, match="missing.*" + docs.name):
        IndexStore.open(index)

    before = (index / CHANGES_FILE).read_text()
    build(seeds_copy, index, fake_embedder, rebuild=True)
    assert (index / CHANGES_FILE).read_text().startswith(before)  # a rebuild keeps the record of changes
    manifest = json.loads((index / MANIFEST).read_text())
    manifest["format_version"] = 99
    (index / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatch, match="format version 99.*rebuild the index"):
        IndexStore.open(index)


def test_other_model_refused(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(seeds_copy, tmp_path / "i", fake_embedder)
    other = FakeEmbedder()
    other.name = "another/model"
    with pytest.raises(IndexMismatch, match="another/model.*rebuild the index"):
        build(seeds_copy, tmp_path / "i", other)


def test_crash_before_manifest_keeps_previous(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "i"
    build(seeds_copy, index, fake_embedder)
    before = IndexStore.open(index)
    (seeds_copy / "new.txt").write_text("A new article about Canada.")

    import rag.store as store_mod

    real = store_mod.atomic_write_bytes

    def crash_on_manifest(path: Path, data: bytes) -> None:
        if path.name == MANIFEST:
            raise KeyboardInterrupt("killed")
        real(path, data)

    monkeypatch.setattr(store_mod, "atomic_write_bytes", crash_on_manifest)
    with pytest.raises(KeyboardInterrupt):
        build(seeds_copy, index, fake_embedder)
    monkeypatch.setattr(store_mod, "atomic_write_bytes", real)
    after = IndexStore.open(index)
    assert set(after.documents) == set(before.documents)
    assert build(seeds_copy, index, fake_embedder).added == ["new"]


def test_empty_corpus(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "empty.txt").write_text("")
    with pytest.raises(EmptyCorpus, match="empty.txt"):
        build(tmp_path / "c", tmp_path / "i", fake_embedder)


def test_vectors_match_chunks(seeds_copy: Path, tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    build(seeds_copy, tmp_path / "i", fake_embedder)
    store = IndexStore.open(tmp_path / "i")
    cid = next(iter(store.chunks))
    v = store.vectors.reconstruct(cid)
    assert np.allclose(v, fake_embedder.encode([store.chunks[cid].text])[0], atol=1e-6)


def test_the_fake_embedder_keeps_the_embedder_contract() -> None:
    from rag.embedding import Embedder, OnnxQueryEncoder, TextEmbedder
    from tests.conftest import FakeEmbedder

    assert isinstance(FakeEmbedder(), TextEmbedder)
    for cls in (Embedder, OnnxQueryEncoder):  # every member of the protocol, without loading a model
        assert all(callable(getattr(cls, m, None)) for m in ("count_tokens", "encode", "encode_query",
                                                             "encode_queries", "export_query_encoder",
                                                             "use_query_encoder"))


def _synthetic_docs(n_docs: int, per_doc: int, dim: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """Documents of ``per_doc`` one-character chunks with random unit vectors (the store's view only)."""
    from rag.schema import Chunk, Document

    rng = np.random.default_rng(seed)
    for d in range(n_docs):
        doc = Document(doc_id=f"d{d}", title=f"d{d}", text="x" * per_doc, content_hash=f"h{d}")
        chunks = [Chunk(chunk_id=i, doc_id=doc.doc_id, start=i, end=i + 1, text="x") for i in range(per_doc)]
        vecs = rng.standard_normal((per_doc, dim)).astype(np.float32)
        yield doc, chunks, vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_reserve_sizes_the_ivf_index_for_the_planned_total_and_streams_past_its_training_sample(
        tmp_path: Path) -> None:
    from rag.store import TRAIN_PER_LIST, ivf_lists

    store = IndexStore.create(tmp_path / "i", "m", 8, ChunkingConfig(), approx_threshold=1000)
    store.reserve(40_000)
    nlist = ivf_lists(40_000)
    train = TRAIN_PER_LIST * nlist  # 31,200: more than the threshold, fewer than the planned total
    for n, (doc, chunks, vecs) in enumerate(_synthetic_docs(40, 1000, 8), start=1):
        store.add_document(doc, chunks, vecs)
        # exact until the training sample is in; then IVF, and every later vector goes straight into it
        assert store.manifest.index_type == ("flat" if n * 1000 < train else "ivf")
    assert store.vectors.nlist == nlist and store.vectors.ntotal == 40_000
    store.save()
    assert IndexStore.open(tmp_path / "i").vectors.nlist == nlist


def test_an_unplanned_or_overestimated_run_still_ends_approximate_past_the_threshold(tmp_path: Path) -> None:
    unplanned = IndexStore.create(tmp_path / "u", "m", 8, ChunkingConfig(), approx_threshold=1000)
    planned = IndexStore.create(tmp_path / "p", "m", 8, ChunkingConfig(), approx_threshold=1000)
    planned.reserve(1_000_000)  # an estimate far above what comes: its training sample never fills
    for doc, chunks, vecs in _synthetic_docs(5, 1000, 8):
        unplanned.add_document(doc, chunks, vecs)
        planned.add_document(doc, chunks, vecs)
    assert unplanned.manifest.index_type == "ivf"  # moved as soon as it passed the threshold
    assert planned.manifest.index_type == "flat"
    planned.save()  # the save moves it: at rest an index is exact only up to its threshold
    assert planned.manifest.index_type == "ivf" and IndexStore.open(tmp_path / "p").vectors.ntotal == 5000


def test_an_index_keeps_its_kind_of_passage_vectors(tmp_path: Path, seeds_copy: Path) -> None:
    """New indexes record how passage vectors were made; an update embeds with the recorded kind, and an
    index whose kind the model cannot make refuses the update in one line."""
    from rag.embedding import DocumentVectorsUnavailable

    class Recording(FakeEmbedder):
        def __init__(self, can_export: bool) -> None:
            self.can_export, self.kinds = can_export, []

        def export_query_encoder(self, folder: object = None) -> bool:
            return self.can_export

        def encode_documents(self, texts, kind, progress=False):  # type: ignore[no-untyped-def]
            self.kinds.append(kind)
            if kind == "int8" and not self.can_export:
                raise DocumentVectorsUnavailable("no int8 export")
            return self.encode(texts)

    exporting, plain = Recording(True), Recording(False)
    update_index(seeds_copy, tmp_path / "a", exporting)
    update_index(seeds_copy, tmp_path / "b", plain)
    assert IndexStore.open(tmp_path / "a").manifest.document_vectors == "int8" and exporting.kinds == ["int8"]
    assert IndexStore.open(tmp_path / "b").manifest.document_vectors == "fp32" and plain.kinds == ["fp32"]
    # a manifest written before the field existed reads as fp32, and an exporting model keeps it so
    manifest = tmp_path / "b" / "manifest.json"
    raw = json.loads(manifest.read_text())
    del raw["document_vectors"]
    manifest.write_text(json.dumps(raw))
    (seeds_copy / "extra.txt").write_text("A new article about the alliance and its ministers.\n")
    update_index(seeds_copy, tmp_path / "b", exporting)
    assert exporting.kinds[-1] == "fp32" and IndexStore.open(tmp_path / "b").manifest.document_vectors == "fp32"
    (seeds_copy / "extra2.txt").write_text("Another new article.\n")
    with pytest.raises(IndexMismatch, match="holds int8 passage vectors"):
        update_index(seeds_copy, tmp_path / "a", plain)
