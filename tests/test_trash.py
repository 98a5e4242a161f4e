"""Recoverable deletion: the trash keeps the user's file, restore brings back the same article."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.changes import CHANGES_FILE, recent_changes
from rag.indexer import update_index
from rag.store import ChunkingConfig
from rag.trash import TRASH_DIR, Trash, TrashError

from .conftest import FakeEmbedder

SEED = "000_dcecbc81de0b1c39"
RECORDS = [
    {"id": "latvia", "title": "Canada to lead Latvia battlegroup", "text": "OTTAWA -- Canada will lead the NATO "
     "battlegroup in Latvia, sending 450 soldiers to the Baltic country."},
    {"id": "estonia", "title": "Britain in Estonia", "text": "LONDON -- Britain will lead the battlegroup in "
     "Estonia with 800 troops."},
]


def open_qa(corpus: Path, idx: Path) -> Assistant:
    emb = FakeEmbedder()
    update_index(corpus, idx, emb, ChunkingConfig(max_tokens=60, overlap=1))
    return Assistant(idx, emb, reader="sentence")  # type: ignore[arg-type]


def view(qa: Assistant, doc_id: str) -> tuple[str, list[tuple[str, int, int, str]], str | None, list[object]]:
    """An article's text, its passages (offsets and texts), and the answer to a question about it."""
    hits = [p for p in qa.retrieve("Canada battalion Poland NATO", k=50) if p.doc_id == doc_id]
    ans = qa.ask("How many troops will the NATO force have?")
    cites = [(c.doc_id, c.quote_start, c.quote_end, c.answer_start, c.answer_end) for c in ans.citations]
    return qa.document(doc_id).text, sorted((p.doc_id, p.start, p.end, p.text) for p in hits), ans.text, cites


def test_delete_moves_the_file_to_the_trash_and_restore_brings_it_back(seeds_copy: Path, tmp_path: Path) -> None:
    qa = open_qa(seeds_copy, tmp_path / "index")
    src = seeds_copy / f"{SEED}.txt"
    original = src.read_bytes()
    before = view(qa, SEED)
    entry = qa.delete(SEED, user="ann")
    assert entry is not None and entry.kind == "file" and entry.paths == [f"{SEED}.txt"]
    assert not src.exists() and SEED not in {d.doc_id for d in qa.documents()}
    trashed = seeds_copy / TRASH_DIR / entry.entry_id / f"{SEED}.txt"
    assert trashed.read_bytes() == original  # byte for byte
    # indexing the folder again does not bring it back (the trash is hidden from indexing)
    assert SEED not in {d.doc_id for d in qa.documents()} and qa.update().added == []
    qa.restore(SEED, user="ann")
    assert src.read_bytes() == original and not trashed.exists()
    assert view(qa, SEED) == before  # same text, same passages and offsets
    assert qa.trash().pending() == []
    actions = [(c.action, c.doc_id, c.user, c.detail) for c in recent_changes(qa.index_dir)]
    assert actions[:3] == [("restore", SEED, "ann", None), ("reindex", None, None, "no change"),
                           ("delete", SEED, "ann", None)]


def test_a_deleted_record_of_a_shared_file_is_a_tombstone(seeds_copy: Path, tmp_path: Path) -> None:
    records = seeds_copy / "bg.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    original = records.read_bytes()
    qa = open_qa(seeds_copy, tmp_path / "index")
    entry = qa.delete("latvia")
    assert entry is not None and entry.kind == "tombstone"
    assert records.read_bytes() == original  # the file holds another article: it stays
    assert qa.update().added == [] and "latvia" not in {d.doc_id for d in qa.documents()}
    assert "estonia" in {d.doc_id for d in qa.documents()}
    qa.restore(entry.entry_id)
    assert "latvia" in {d.doc_id for d in qa.documents()} and qa.update().changed is False


def test_trashed_files_never_overwrite_each_other_and_restore_refuses_a_taken_place(seeds_copy: Path,
                                                                                     tmp_path: Path) -> None:
    qa = open_qa(seeds_copy, tmp_path / "index")
    src = seeds_copy / f"{SEED}.txt"
    first = qa.delete(SEED)
    src.write_text("Riga -- another article under the same name, written after the delete.")
    qa.update()
    second = qa.delete(SEED)
    assert first is not None and second is not None and first.entry_id != second.entry_id
    assert len(list((seeds_copy / TRASH_DIR).rglob(f"{SEED}.txt"))) == 2
    src.write_text("a third text in its place")
    with pytest.raises(TrashError, match="exists again"):
        qa.restore(first.entry_id)
    with pytest.raises(TrashError, match="nothing in the trash"):
        qa.restore("no-such-entry")


def test_empty_is_the_only_removal(seeds_copy: Path, tmp_path: Path) -> None:
    qa = open_qa(seeds_copy, tmp_path / "index")
    entry = qa.delete(SEED)
    assert entry is not None
    trash = Trash(seeds_copy)
    assert trash.empty(older_than_days=1) == []  # too recent
    assert (seeds_copy / TRASH_DIR / entry.entry_id).is_dir()
    assert [e.entry_id for e in trash.empty()] == [entry.entry_id]
    assert not (seeds_copy / TRASH_DIR / entry.entry_id).exists() and trash.pending() == []
    with pytest.raises(TrashError):
        qa.restore(SEED)


def test_cli_trash_list_restore_empty(seeds_copy: Path, tmp_path: Path) -> None:
    idx = tmp_path / "index"
    qa = open_qa(seeds_copy, idx)
    entry = qa.delete(SEED)
    assert entry is not None

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rag.cli", "trash", *args, "--index", str(idx)],
                              capture_output=True, text=True, timeout=120)

    listed = rag("list")
    assert listed.returncode == 0 and entry.entry_id in listed.stdout and SEED in listed.stdout
    assert rag("empty", "--older-than", "30").stdout.strip() == "emptied 0 entries"
    assert rag("list").stdout.count(entry.entry_id) == 1
    assert rag("empty").stdout.strip() == "emptied 1 entry"
    assert "the trash is empty" in rag("list").stdout


def test_every_change_is_recorded_newest_first(seeds_copy: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Uploads, deletes, restores and re-indexing each append a line: time, user, action, article, file."""
    qa = open_qa(seeds_copy, tmp_path / "index")
    first = qa.changes()
    assert len(first) == 3 and {(c.action, c.detail) for c in first} == {("reindex", "added")}
    assert {c.path for c in first} == {p.name for p in seeds_copy.glob("*.txt")}
    (seeds_copy / "uploads").mkdir()
    new = seeds_copy / "uploads" / "latvia.txt"
    new.write_text(RECORDS[0]["text"])
    report = qa.add([new], user="bea")
    qa.delete(SEED, user="ann")
    (seeds_copy / "bg.jsonl").write_text(json.dumps(RECORDS[1]) + "\n")
    qa.update(user="cy")
    got = [(c.action, c.user, c.doc_id, c.path, c.detail) for c in qa.changes(3)]
    assert got == [("reindex", "cy", "estonia", "bg.jsonl", "added"), ("delete", "ann", SEED, f"{SEED}.txt", None),
                   ("upload", "bea", report.added[0], "uploads/latvia.txt", "added")]
    assert all(c.time.endswith("+00:00") for c in qa.changes())
    # a line cut short by a crash is reported once and skipped; the rest is still read
    with (qa.index_dir / CHANGES_FILE).open("a") as f:
        f.write('{"time": "2026-')
    with caplog.at_level("WARNING", logger="rag.changes"):
        assert [c.action for c in qa.changes(2)] == ["reindex", "delete"]
    assert len([r for r in caplog.records if "damaged" in r.getMessage()]) == 1
    qa.restore(SEED)  # the next line starts on a line of its own
    assert [c.action for c in qa.changes(2)] == ["restore", "reindex"]


def test_a_trash_log_line_cut_short_is_reported_and_the_next_entry_stands_alone(
        seeds_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    qa = open_qa(seeds_copy, tmp_path / "index")
    first = qa.delete(SEED)
    assert first is not None
    with (seeds_copy / TRASH_DIR / "trash.jsonl").open("a") as f:
        f.write('{"entry_id": "x", "doc_')  # a crash mid-write
    with caplog.at_level("WARNING", logger="rag.trash"):
        assert [e.entry_id for e in Trash(seeds_copy).pending()] == [first.entry_id]
    assert any("not a trash entry" in r.getMessage() for r in caplog.records)
    qa.restore(first.entry_id)  # its line is appended on a line of its own, so it reads back
    assert Trash(seeds_copy).pending() == []
