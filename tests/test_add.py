"""Adding files to an open index without re-reading the corpus (``Assistant.add``, what uploads run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.errors import UnknownDocument
from rag.indexer import update_index
from rag.store import ChunkingConfig, IndexStore

from .conftest import FakeEmbedder

NEW = "Oslo, Monday -- Norway will send 300 engineers to the Baltic air base at Siauliai, the defence ministry said."


def open_qa(corpus: Path, idx: Path, sync_max: int) -> Assistant:
    emb = FakeEmbedder()
    update_index(corpus, idx, emb, ChunkingConfig(max_tokens=60, overlap=1))
    qa = Assistant(idx, emb, reader="sentence")  # type: ignore[arg-type]
    qa.lexical_rebuild_sync_max = sync_max
    return qa


def check_consistent(qa: Assistant, idx: Path) -> None:
    """The in-memory snapshot equals what a fresh open of the folder gives, and offsets hold."""
    disk = IndexStore.open(idx)
    snap = qa._snap.store
    assert disk.manifest.generation == snap.manifest.generation
    assert sorted(disk.chunks.rows()) == sorted(snap.chunks.rows())
    assert disk.documents == snap.documents
    assert disk.vectors.ntotal == snap.vectors.ntotal == len(snap.chunks)
    for cid in snap.chunks:
        ch = snap.chunks[cid]
        assert snap.documents[ch.doc_id].text[ch.start : ch.end] == ch.text


@pytest.mark.parametrize("sync_max", [0, 1_000_000], ids=["small-bm25-then-background", "rebuilt-at-once"])
def test_add_a_file_then_find_it(seeds_copy: Path, tmp_path: Path, sync_max: int) -> None:
    idx = tmp_path / "index"
    qa = open_qa(seeds_copy, idx, sync_max)
    before = qa._snap
    before_chunks = len(before.store.chunks)
    (seeds_copy / "uploads").mkdir()
    new = seeds_copy / "uploads" / "norway.txt"
    new.write_text(NEW)
    report = qa.add([new])
    assert report.added == ["norway"] and report.chunks_embedded == 1
    assert before.store.manifest.generation + 1 == qa._snap.store.manifest.generation
    assert len(before.store.chunks) == before_chunks  # the old snapshot was not touched (copy on write)
    assert (qa._snap.retriever.recent is not None) == (sync_max == 0)
    hits = qa.retrieve("Norway engineers Siauliai", k=3)
    assert hits[0].doc_id == "norway" and hits[0].lexical_score is not None
    check_consistent(qa, idx)
    assert qa.wait_for_background(60)
    assert qa._snap.retriever.complete
    assert qa.retrieve("Norway engineers Siauliai", k=3)[0].doc_id == "norway"
    # a later full re-index of the folder finds nothing to do
    again = update_index(seeds_copy, idx, FakeEmbedder())
    assert again.added == [] and again.updated == [] and again.removed == []


def test_add_duplicate_collision_and_bad_files(seeds_copy: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    qa = open_qa(seeds_copy, idx, 0)
    up = seeds_copy / "uploads"
    up.mkdir()
    dup = up / "copy.txt"
    dup.write_text((seeds_copy / "000_dcecbc81de0b1c39.txt").read_text())
    clash = up / "000_dcecbc81de0b1c39.md"  # same id as a seed, other text
    clash.write_text(NEW)
    empty = up / "empty.txt"
    empty.write_text("  \n")
    report = qa.add([dup, clash, empty])
    assert report.added == ["uploads/000_dcecbc81de0b1c39"]
    assert "uploads/copy.txt" in qa.document("000_dcecbc81de0b1c39").aliases
    assert any(s.startswith("uploads/copy.txt") and "same text" in s for s in report.skipped)
    assert any(s.startswith("uploads/empty.txt") for s in report.skipped)
    check_consistent(qa, idx)
    # changing an added file and adding it again re-indexes it
    clash.write_text(NEW.replace("300", "400"))
    report = qa.add([clash])
    assert report.updated == ["uploads/000_dcecbc81de0b1c39"] and report.chunks_embedded == 1
    assert "400 engineers" in qa.document("uploads/000_dcecbc81de0b1c39").text
    check_consistent(qa, idx)
    with pytest.raises(ValueError, match="not inside the corpus"):
        qa.add([tmp_path / "elsewhere.txt"])


def test_delete_after_add_keeps_retrieval_exact(seeds_copy: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    qa = open_qa(seeds_copy, idx, 0)
    (seeds_copy / "uploads").mkdir()
    new = seeds_copy / "uploads" / "norway.txt"
    new.write_text(NEW)
    qa.add([new])
    qa.delete("000_dcecbc81de0b1c39")  # its chunks are still in the big BM25 index until it is rebuilt
    for q in ("Canada battalion", "Norway engineers", "NATO Poland"):
        assert all(p.doc_id != "000_dcecbc81de0b1c39" for p in qa.retrieve(q, k=10))
    check_consistent(qa, idx)
    qa.delete("norway")
    assert all(p.doc_id != "norway" for p in qa.retrieve("Norway engineers", k=10))
    assert not new.exists()
    assert qa.wait_for_background(60) and qa._snap.retriever.complete
    check_consistent(qa, idx)


def test_add_after_another_process_changed_the_index(seeds_copy: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    qa = open_qa(seeds_copy, idx, 0)
    (seeds_copy / "002_656a127584ff5753.txt").unlink()
    update_index(seeds_copy, idx, FakeEmbedder())  # as `rag index` in another process would
    (seeds_copy / "uploads").mkdir()
    new = seeds_copy / "uploads" / "norway.txt"
    new.write_text(NEW)
    qa.add([new])  # the stale copy is dropped: the index is re-opened from disk
    assert "002_656a127584ff5753" not in {d.doc_id for d in qa.documents()}
    assert qa._snap.retriever.complete
    check_consistent(qa, idx)


def test_readers_keep_working_while_files_are_added_deleted_and_restored(seeds_copy: Path, tmp_path: Path) -> None:
    import threading

    qa = open_qa(seeds_copy, tmp_path / "index", 0)  # the small-BM25 + background-rebuild path
    (seeds_copy / "uploads").mkdir()
    errors: list[BaseException] = []
    stop = threading.Event()

    def text_of(doc_id: str) -> str | None:
        try:
            return qa.document(doc_id).text
        except UnknownDocument:  # deleted between the two calls: each call sees one whole snapshot
            return None

    def reader() -> None:
        while not stop.is_set():
            try:
                for p in qa.retrieve("Norway engineers Canada battalion", k=5):
                    text = text_of(p.doc_id)
                    assert text is None or text[p.start : p.end] == p.text
                ans = qa.ask("Who is the supreme allied commander of NATO?")
                for c in ans.citations:
                    text = text_of(c.doc_id)
                    assert text is None or text[c.quote_start : c.quote_end] == c.quote
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            path = seeds_copy / "uploads" / f"n{i}.txt"
            path.write_text(NEW.replace("300", str(300 + i)))
            qa.add([path])
            if i % 2:
                qa.delete(f"n{i - 1}")
            if i == 3:
                qa.restore("n0")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert qa.wait_for_background(60)
    assert sorted(d.doc_id for d in qa.documents() if d.doc_id.startswith("n")) == ["n0", "n1", "n3", "n5"]
    check_consistent(qa, tmp_path / "index")


def test_one_admission_rule_for_a_folder_and_for_added_files(tmp_path: Path) -> None:
    """Indexing a folder at once and adding its files one by one admit the same documents under the same
    ids, with the same aliases (``ingest.Admission`` is the one rule)."""
    texts = {"a.txt": "Riga, Monday -- Canada will lead the battlegroup in Latvia.",
             "sub/a.txt": "Vilnius, Tuesday -- Germany will lead the battlegroup in Lithuania.",
             "copy.txt": "Riga, Monday -- Canada will lead the battlegroup in Latvia.",
             "b.txt": "Tallinn, Friday -- Britain will lead the battlegroup in Estonia."}
    whole, one_by_one = tmp_path / "whole", tmp_path / "one"
    for root in (whole, one_by_one):
        for name, text in texts.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    emb = FakeEmbedder()
    update_index(whole, tmp_path / "i1", emb)
    first = {"a.txt"}
    for name in texts:
        if name not in first:
            (one_by_one / name).rename(one_by_one / (name + ".later"))
    update_index(one_by_one, tmp_path / "i2", emb)
    qa = Assistant(tmp_path / "i2", emb, reader="sentence")  # type: ignore[arg-type]
    for name in texts:
        if name not in first:
            (one_by_one / (name + ".later")).rename(one_by_one / name)
            qa.add([one_by_one / name])

    def view(index: Path) -> dict[str, tuple[str | None, list[str]]]:
        return {d.doc_id: (d.path, sorted(d.aliases)) for d in IndexStore.open(index).documents.values()}

    assert view(tmp_path / "i1") == view(tmp_path / "i2") == {
        "a": ("a.txt", ["copy.txt"]), "sub/a": ("sub/a.txt", []), "b": ("b.txt", [])}
