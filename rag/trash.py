"""The corpus folder's trash: deleting an article never destroys the user's file.

A deleted article's file moves to ``<corpus>/.trash/<entry id>/<its relative path>`` (indexing ignores
hidden folders), with its aliases (other files holding the same text); an article that shares its file
with others (a record of a ``.json``/``.jsonl`` file) is excluded by a tombstone instead, and the file
stays. ``<corpus>/.trash/trash.jsonl`` records every entry (one JSON object a line, appended; a line
that does not parse is reported and skipped). Restoring moves the files back (never over an existing
file) or lifts the tombstone. Only ``empty`` removes files, and only from the trash.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from rag.errors import RagError
from rag.files import append_line, read_lines

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"
TRASH_LOG = "trash.jsonl"


class TrashError(RagError):
    """A trash entry cannot be restored (unknown, already restored, or its place is taken)."""


class TrashEntry(BaseModel):
    """One deleted article: its files in the trash, or a tombstone over its shared file."""

    entry_id: str
    doc_id: str
    title: str = ""
    kind: Literal["file", "tombstone"]
    paths: list[str]  # relative to the corpus folder: where the files were (the first is the article's)
    time: str  # UTC, ISO 8601
    user: str | None = None
    restored: bool = False
    emptied: bool = False


class Trash:
    """The trash of one corpus folder."""

    def __init__(self, corpus: str | Path) -> None:
        self.corpus = Path(corpus).resolve()
        self.folder = self.corpus / TRASH_DIR

    # ---- reading ------------------------------------------------------------------------------
    def _records(self) -> list[TrashEntry]:
        path = self.folder / TRASH_LOG
        out: list[TrashEntry] = []
        for n, line in read_lines(path):
            try:
                out.append(TrashEntry.model_validate_json(line))
            except ValidationError:
                log.warning("%s:%d: not a trash entry; skipped", path, n)
        return out

    def entries(self) -> list[TrashEntry]:
        """The current state of every entry (later lines update earlier ones), oldest first."""
        latest: dict[str, TrashEntry] = {}
        for e in self._records():
            latest[e.entry_id] = e
        return list(latest.values())

    def pending(self) -> list[TrashEntry]:
        """Entries that can still be restored."""
        return [e for e in self.entries() if not e.restored and not e.emptied]

    def tombstones(self) -> set[tuple[str, str]]:
        """``(path, doc_id)`` of the articles excluded from shared files."""
        return {(e.paths[0], e.doc_id) for e in self.pending() if e.kind == "tombstone"}

    def find(self, key: str) -> TrashEntry:
        """The pending entry with this entry id, else the latest pending one for this article id."""
        pending = self.pending()
        for e in pending:
            if e.entry_id == key:
                return e
        for e in reversed(pending):
            if e.doc_id == key:
                return e
        raise TrashError(f"nothing in the trash of {self.corpus} for {key!r}")

    # ---- changing -----------------------------------------------------------------------------
    def _append(self, entry: TrashEntry) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        append_line(self.folder / TRASH_LOG, entry.model_dump_json())

    def _new_id(self, doc_id: str) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        taken = {e.entry_id for e in self.entries()}
        base = f"{stamp}-{''.join(c if c.isalnum() or c in '._-' else '_' for c in doc_id)[:60]}"
        entry_id, n = base, 1
        while entry_id in taken or (self.folder / entry_id).exists():
            n += 1
            entry_id = f"{base}-{n}"
        return entry_id

    def put_files(self, doc_id: str, title: str, paths: list[str], user: str | None = None) -> TrashEntry:
        """Move these corpus files (relative paths) into a new trash entry, keeping their relative paths."""
        entry = TrashEntry(entry_id=self._new_id(doc_id), doc_id=doc_id, title=title, kind="file", paths=paths,
                           time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), user=user)
        for rel in paths:
            src, dst = self.corpus / rel, self.folder / entry.entry_id / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)  # same file system: a rename, nothing copied or lost
        self._append(entry)
        return entry

    def put_tombstone(self, doc_id: str, title: str, path: str, user: str | None = None) -> TrashEntry:
        """Exclude one article of a shared file from indexing, leaving the file untouched."""
        entry = TrashEntry(entry_id=self._new_id(doc_id), doc_id=doc_id, title=title, kind="tombstone",
                           paths=[path], time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), user=user)
        self._append(entry)
        return entry

    def restore(self, key: str) -> TrashEntry:
        """Put an entry back: its files to their places (refused when one is taken), or lift its tombstone."""
        entry = self.find(key)
        if entry.kind == "file":
            taken = [rel for rel in entry.paths if (self.corpus / rel).exists()]
            if taken:
                raise TrashError(f"cannot restore {entry.doc_id}: {', '.join(taken)} exists again in the corpus")
            for rel in entry.paths:
                dst = self.corpus / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.folder / entry.entry_id / rel, dst)
            shutil.rmtree(self.folder / entry.entry_id, ignore_errors=True)
        done = entry.model_copy(update={"restored": True})
        self._append(done)
        return done

    def empty(self, older_than_days: float | None = None) -> list[TrashEntry]:
        """Remove the files of pending entries (all, or those older than ``older_than_days``): the only
        code path that deletes a user's article file. Tombstones become permanent."""
        now = dt.datetime.now(dt.UTC)
        gone = []
        for e in self.pending():
            age = (now - dt.datetime.fromisoformat(e.time)).total_seconds() / 86400
            if older_than_days is not None and age < older_than_days:
                continue
            if e.kind == "file":
                shutil.rmtree(self.folder / e.entry_id, ignore_errors=True)
            done = e.model_copy(update={"emptied": True})
            self._append(done)
            gone.append(done)
        return gone
