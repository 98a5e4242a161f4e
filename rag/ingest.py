"""Ingest: a folder of articles -> ``Document``s, with the text kept exactly as read.

Supported: ``.txt``, ``.md``, ``.html``/``.htm`` (the main text and the page's metadata, through
``rag.webpage``: trafilatura, encoding read as a browser reads it), ``.pdf`` and ``.docx`` (``rag.office``)
and ``.json``/``.jsonl`` records
``{"id", "title", "text", "date"?, "url"?}``. Bad files (binary, not UTF-8, empty, too large, a page
with no main text, an encrypted or scanned PDF) and malformed records are skipped and reported, never
fatal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from rag.office import DOCX_SUFFIXES, PDF_SUFFIXES, docx_text, pdf_text
from rag.schema import Document
from rag.webpage import decode_html, extract_page

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
RECORD_SUFFIXES = {".json", ".jsonl"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | RECORD_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES
MAX_FILE_BYTES = 20 * 1024 * 1024  # a news article is kilobytes; 20 MB is surely not one

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|Oct\\.?|Nov\\.?|Dec\\.?"
)
_DATE = rf"(?:{_MONTHS})\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}"
# "BRUSSELS/WARSAW--", "WASHINGTON (Reuters) -", "LONDON, May 3 (Reuters) -"
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z.'’/ -]{1,60}?[A-Z.])"
    r"(?:,\s*(?P<date>[A-Z][a-z]+\.? \d{1,2}(?:, \d{4})?))?"
    r"\s*(?:\((?P<source>[A-Za-z][\w .&'-]{0,40})\))?\s*(?:--|—|–| - )"
)
# "(China Daily August 1, 2003)" or "(Reuters, March 3, 2016)"
_SOURCE_DATE = re.compile(rf"\((?P<source>[A-Z][\w .&'-]{{1,60}}?),?\s+(?P<date>{_DATE})\)")
_ANY_DATE = re.compile(_DATE)


@dataclass(frozen=True)
class IngestIssue:
    """A file or record that was skipped (or renamed), and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


def normalise_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``; nothing else changes (offsets refer to this text)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derive_title(text: str, max_chars: int = 90) -> str:
    """A title from the text: the first line if it is short, else the first sentence, shortened."""
    body = text.strip()
    m = _DATELINE.match(body)
    if m:
        body = body[m.end() :].lstrip()
    first_line = body.split("\n", 1)[0].strip()
    if 0 < len(first_line) <= max_chars and not first_line.endswith((".", ",", ";")):
        return first_line
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", first_line, maxsplit=1)[0]
    if len(sentence) <= max_chars:
        return sentence.rstrip(".")
    cut = sentence[:max_chars].rsplit(" ", 1)[0]
    return cut.rstrip(",;:-") + "…"


def extract_metadata(text: str) -> dict[str, str]:
    """Dateline place, source and date, when the article states them."""
    meta: dict[str, str] = {}
    m = _DATELINE.match(text.lstrip())
    if m:
        meta["place"] = m.group("place").strip()
        if m.group("source"):
            meta["source"] = m.group("source").strip()
        if m.group("date"):
            meta["date"] = m.group("date").strip()
    credits = list(_SOURCE_DATE.finditer(text))
    sd = credits[-1] if credits else None  # the credit line, when present, closes the article
    if sd is not None:
        meta.setdefault("source", sd.group("source").strip())
        meta["date"] = sd.group("date").strip()
    elif "date" not in meta:
        head = _ANY_DATE.search(text[:300])
        if head:
            meta["date"] = head.group(0)
    return meta


def make_document(
    doc_id: str,
    text: str,
    *,
    title: str | None = None,
    path: str | None = None,
    date: str | None = None,
    url: str | None = None,
    source: str | None = None,
    author: str | None = None,
    language: str | None = None,
) -> Document:
    """Build a Document, deriving the title and news metadata the text carries (what is given wins)."""
    text = normalise_newlines(text)
    meta = extract_metadata(text)
    return Document(
        doc_id=doc_id,
        title=(title or "").strip() or derive_title(text),
        text=text,
        path=path,
        date=date or meta.get("date"),
        url=url,
        place=meta.get("place"),
        source=source or meta.get("source"),
        author=author,
        language=language,
        content_hash=content_hash(text),
    )


def _decode(raw: bytes) -> str:
    if b"\x00" in raw:
        raise ValueError("binary file (NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte {e.start})") from None


def _markdown_title(text: str) -> str | None:
    m = re.match(r"\s*#\s+(.+)", text)
    return m.group(1).strip() if m else None


def _records(path: Path, raw: str) -> Iterator[tuple[int | None, Any]]:
    """(line number or None, record) pairs from a .json or .jsonl file."""
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(raw.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                yield n, ValueError(f"malformed JSON ({e.msg})")
        return
    data = json.loads(raw)  # a malformed .json file is skipped whole by the caller
    if isinstance(data, dict) and isinstance(data.get("documents"), list):
        data = data["documents"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError("JSON is neither a record nor a list of records")
    for i, rec in enumerate(data):
        yield i + 1, rec


def _record_document(rec: Any, path: Path, rel: str, n: int | None) -> Document:
    if not isinstance(rec, dict):
        raise ValueError("record is not an object")
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("record has no text")
    rid = rec.get("id")
    doc_id = str(rid).strip() if rid is not None and str(rid).strip() else f"{path.stem}-{n}"
    title = rec.get("title") if isinstance(rec.get("title"), str) else None
    date = str(rec["date"]) if rec.get("date") is not None else None
    url = str(rec["url"]) if rec.get("url") is not None else None
    return make_document(doc_id, text, title=title, path=rel, date=date, url=url)


def read_file(path: Path, root: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[IngestIssue]]:
    """Documents from one file, and the issues met (a bad file gives no document and one issue)."""
    rel = path.relative_to(root).as_posix()
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
        if size == 0:
            return [], [IngestIssue(rel, "empty file")]
        if size > max_bytes:
            return [], [IngestIssue(rel, f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB)")]
        if suffix in PDF_SUFFIXES | DOCX_SUFFIXES:
            text, title = (pdf_text if suffix in PDF_SUFFIXES else docx_text)(path)
            return [make_document(path.stem, text, title=title, path=rel)], []
        data = path.read_bytes()
        raw = decode_html(data) if suffix in HTML_SUFFIXES else _decode(data)
    except (OSError, ValueError) as e:  # Unreadable is a ValueError
        return [], [IngestIssue(rel, str(e))]
    if not raw.strip():
        return [], [IngestIssue(rel, "empty file (only white space)")]
    if suffix in HTML_SUFFIXES:
        page = extract_page(raw)
        if page is None:
            return [], [IngestIssue(rel, "no main text found in the page")]
        return [make_document(path.stem, page.text, title=page.title, path=rel, date=page.date, url=page.url,
                              source=page.sitename, author=page.author, language=page.language)], []

    if suffix in RECORD_SUFFIXES:
        docs: list[Document] = []
        issues: list[IngestIssue] = []
        try:
            for n, rec in _records(path, raw):
                if isinstance(rec, Exception):
                    issues.append(IngestIssue(rel, str(rec), n))
                    continue
                try:
                    docs.append(_record_document(rec, path, rel, n))
                except ValueError as e:
                    issues.append(IngestIssue(rel, str(e), n))
        except (json.JSONDecodeError, ValueError) as e:
            return [], [IngestIssue(rel, f"malformed JSON ({e})")]
        if not docs and not issues:
            issues.append(IngestIssue(rel, "no records"))
        return docs, issues

    title = _markdown_title(raw) if suffix in {".md", ".markdown"} else None
    return [make_document(path.stem, raw, title=title, path=rel)], []


def iter_corpus_files(root: Path) -> list[Path]:
    """Supported files below ``root``, recursively, in a stable order; hidden files are ignored."""
    files = []
    for p in sorted(root.rglob("*")):
        rel_parts = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel_parts):
            continue
        if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES:
            files.append(p)
    return files


def fallback_id(doc: Document) -> str:
    """The id a document gets when its plain id is taken: its path without extension (``path#id`` for a
    record of a JSON file)."""
    if not doc.path:
        return doc.doc_id
    stem = Path(doc.path).with_suffix("").as_posix()
    return f"{stem}#{doc.doc_id}" if Path(doc.path).suffix.lower() in RECORD_SUFFIXES else stem


@dataclass
class Verdict:
    """What ``Admission.admit`` decided for one document."""

    kind: Literal["admit", "alias", "skip"]
    doc: Document | None = None  # "admit": the document as admitted (its id may have changed)
    dup: str | None = None  # "alias": the id of the indexed document holding the same text
    issue: IngestIssue | None = None  # why it was renamed, aliased or skipped


class Admission:
    """The one rule by which documents enter a collection, for a whole folder (``load_corpus``) and for
    files added one by one (``rag.indexer.add_files``) alike: a text already held becomes an alias of
    the document holding it; a taken id falls back to the file's path (``fallback_id``); a document
    whose fallback id is taken too is skipped."""

    def __init__(self, existing: Iterable[Document] = ()) -> None:
        self._by_hash: dict[str, str] = {}
        self._ids: set[str] = set()
        for d in existing:
            self._by_hash.setdefault(d.content_hash, d.doc_id)
            self._ids.add(d.doc_id)

    def admit(self, doc: Document) -> Verdict:
        dup = self._by_hash.get(doc.content_hash)
        where = doc.path or doc.doc_id
        if dup is not None:
            return Verdict("alias", dup=dup, issue=IngestIssue(where, f"same text as {dup}; indexed once"))
        issue = None
        if doc.doc_id in self._ids:
            new_id = fallback_id(doc)
            if new_id in self._ids:
                return Verdict("skip", issue=IngestIssue(where, f"duplicate id {doc.doc_id}; skipped"))
            issue = IngestIssue(where, f"id {doc.doc_id} taken; indexed as {new_id}")
            doc = doc.model_copy(update={"doc_id": new_id})
        self.replace(doc)
        return Verdict("admit", doc=doc, issue=issue)

    def replace(self, doc: Document, old_hash: str | None = None) -> None:
        """Record ``doc`` as held (under its id), e.g. a file indexed again with new text."""
        if old_hash is not None and self._by_hash.get(old_hash) == doc.doc_id:
            del self._by_hash[old_hash]
        self._by_hash[doc.content_hash] = doc.doc_id
        self._ids.add(doc.doc_id)


def with_alias(kept: Document, doc: Document) -> Document:
    """``kept`` with ``doc``'s file (or id) among its aliases: the same text found under another name."""
    alias = doc.path if doc.path and doc.path != kept.path else doc.doc_id
    if alias == kept.path or alias == kept.doc_id or alias in kept.aliases:
        return kept
    return kept.model_copy(update={"aliases": [*kept.aliases, alias]})


def load_corpus(root: str | Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[IngestIssue]]:
    """All documents of a folder, admitted by ``Admission``, and every issue met on the way.

    Identical texts under different names are kept once; the other names become ``aliases``.
    Two files with the same stem in different sub-folders get their relative path as id.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    return admit_all(read_file(path, root, max_bytes) for path in iter_corpus_files(root))


def admit_all(read: Iterable[tuple[list[Document], list[IngestIssue]]]) -> tuple[list[Document], list[IngestIssue]]:
    """The documents a folder's files gave (``read_file``'s results, in ``iter_corpus_files`` order), as
    ``Admission`` admits them, and every issue met; the issues are logged. Where the files were read
    (here, or on Ray workers: ``rag.distributed``) changes nothing."""
    issues: list[IngestIssue] = []
    admission = Admission()
    kept: dict[str, Document] = {}
    for docs, file_issues in read:
        issues.extend(file_issues)
        for doc in docs:
            verdict = admission.admit(doc)
            if verdict.issue is not None:
                issues.append(verdict.issue)
            if verdict.kind == "alias" and verdict.dup is not None:
                kept[verdict.dup] = with_alias(kept[verdict.dup], doc)
            elif verdict.kind == "admit" and verdict.doc is not None:
                kept[verdict.doc.doc_id] = verdict.doc
    for issue in issues:
        log.warning("%s", issue)
    return list(kept.values()), issues


@lru_cache(maxsize=65536)
def published_date(date: str | None) -> dt.date | None:
    """The calendar day a document's ``date`` names, when it names a whole one ("August 1, 2003",
    "2016-06-14", "14 June 2016"); None for partial dates ("May 3") or text that is no date. Cached: a
    date filter asks this of every article on every question, and articles share few distinct dates."""
    if not date:
        return None
    from dateutil import parser

    text = date.strip()
    try:
        a = parser.parse(text, default=dt.datetime(1, 1, 1), fuzzy=False)
        b = parser.parse(text, default=dt.datetime(2, 2, 2), fuzzy=False)
    except (ValueError, OverflowError):
        return None
    return a.date() if a.date() == b.date() else None  # a part missing from the text came from the default
