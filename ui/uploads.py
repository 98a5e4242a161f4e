"""Storing uploaded articles safely: allowed extensions only, a size limit, sanitised names, no overwrite.

An upload is only ever copied as bytes into ``<corpus>/uploads/`` (mode 0644) and then read by the
ingest code as text; nothing uploaded is executed, imported or served back as a file.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from pathlib import Path

ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf", ".docx")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_SUBDIR = "uploads"
MAX_NAME_CHARS = 80

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRejected(ValueError):
    """An upload we refuse (extension, size, or no usable name); the message says why."""


def safe_name(name: str) -> str:
    """A harmless file name for ``name``: basename only, ``[A-Za-z0-9._-]``, no leading dot, bounded length.

    >>> safe_name("../../etc/passwd.txt")
    'passwd.txt'
    >>> safe_name("C:\\\\Users\\\\me\\\\My Article (1).md")
    'My_Article_1.md'
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base).strip("._-")
    base = re.sub(r"\.{2,}", ".", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip("._-")[: MAX_NAME_CHARS] or "article"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def check_upload(name: str, size: int) -> str:
    """The sanitised name for an upload called ``name`` of ``size`` bytes, or ``UploadRejected``."""
    clean = safe_name(name)
    suffix = Path(clean).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadRejected(f"{clean}: only {', '.join(ALLOWED_SUFFIXES)} files are accepted")
    if size <= 0:
        raise UploadRejected(f"{clean}: the file is empty")
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"{clean}: {size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit")
    return clean


def store_upload(src: str | Path, original_name: str, corpus: str | Path) -> Path:
    """Copy the uploaded file ``src`` into ``<corpus>/uploads/`` under a safe, unused name; return the path."""
    src = Path(src)
    size = src.stat().st_size
    clean = check_upload(original_name, size)
    root = Path(corpus).resolve()
    folder = (root / UPLOAD_SUBDIR).resolve()
    if not folder.is_relative_to(root):
        raise UploadRejected(f"the upload folder {folder} is outside the corpus folder")
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(clean).stem, Path(clean).suffix
    dest = folder / clean
    n = 2
    while dest.exists():
        dest = folder / f"{stem}-{n}{suffix}"
        n += 1
    tmp = folder / f".upload-{secrets.token_hex(6)}.part"  # hidden: the indexer ignores it
    try:
        with src.open("rb") as fin, tmp.open("xb") as fout:
            copied = 0
            while chunk := fin.read(1 << 20):
                copied += len(chunk)
                if copied > MAX_UPLOAD_BYTES:
                    raise UploadRejected(f"{clean}: over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit")
                fout.write(chunk)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
