"""The record of changes to a library: ``<index>/changes.jsonl``, one JSON object a line, appended.

Every upload, delete, restore and re-index appends one line per article it changed: time (UTC, ISO
8601), the user when known, the action, the article id and its file (relative to the corpus folder),
and for a re-index what happened to the article (``added``, ``updated``, ``removed``). A re-index that
changed nothing appends one line with no article. Lines are only appended; a line that does not parse
(a write cut short) is reported in one warning and left out of what is read.

Format version 1:
``{"version": 1, "time", "user", "action": "upload"|"delete"|"restore"|"reindex", "doc_id", "path", "detail"}``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from rag.files import append_line, read_lines

log = logging.getLogger(__name__)

CHANGES_FILE = "changes.jsonl"
CHANGES_VERSION = 1
Action = Literal["upload", "delete", "restore", "reindex"]


class Change(BaseModel):
    """One line of the record."""

    version: int = CHANGES_VERSION
    time: str
    user: str | None = None
    action: Action
    doc_id: str | None = None
    path: str | None = None
    detail: str | None = None


def record_change(index_dir: str | Path, action: Action, doc_id: str | None, path: str | None,
                  user: str | None = None, detail: str | None = None) -> Change:
    """Append one line to ``<index>/changes.jsonl`` (written and fsynced in one ``write``)."""
    change = Change(time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), user=user, action=action,
                    doc_id=doc_id, path=path, detail=detail)
    append_line(Path(index_dir) / CHANGES_FILE, change.model_dump_json())
    return change


def record_indexing(index_dir: str | Path, action: Action, added: list[str], updated: list[str],
                    removed: list[str], paths: Mapping[str, str | None], user: str | None = None) -> list[Change]:
    """One line per article an indexing run (an upload or a re-index) added, updated or removed; a
    re-index that changed nothing still gets its line. ``paths``: article id -> file, where known."""
    out = [record_change(index_dir, action, d, paths.get(d), user, detail)
           for detail, ids in (("added", added), ("updated", updated), ("removed", removed)) for d in ids]
    if not out and action == "reindex":
        out.append(record_change(index_dir, action, None, None, user, "no change"))
    return out


def recent_changes(index_dir: str | Path, n: int = 20) -> list[Change]:
    """The last ``n`` changes, newest first. Damaged lines are reported in one warning and skipped."""
    target = Path(index_dir) / CHANGES_FILE
    out: list[Change] = []
    bad = 0
    for _, line in reversed(read_lines(target)):
        try:
            out.append(Change.model_validate_json(line))
        except ValidationError:
            bad += 1
            continue
        if len(out) >= n:
            break
    if bad:
        log.warning("%s: %d damaged line(s) skipped", target, bad)
    return out
