"""PDF and Word files -> text and title: pypdf for PDFs with a text layer, python-docx for ``.docx``.

The stored text is what these libraries extract (pages, or paragraphs, separated by a blank line), and
every offset refers to it. What cannot be read is refused with a reason that names the problem (an
encrypted PDF, a PDF with no text layer such as a scan, a ``.docx`` that is no Word file); the caller
reports it in one line and goes on with the rest. pypdf was chosen over pdfplumber on PDFs printed from
web pages, single- and two-column (``bench/bench_pdf.py``).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
DOCX_SUFFIXES = {".docx"}


class Unreadable(ValueError):
    """A PDF or Word file whose text cannot be read; the message says why."""


def _clean_title(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


def pdf_text(path: Path) -> tuple[str, str | None]:
    """(text, title) of a PDF: its pages' text layers, a blank line between pages."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    quiet = logging.getLogger("pypdf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # pypdf warns about every odd but readable object
    try:
        try:
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise Unreadable("encrypted PDF (needs a password)")
            pages = [(page.extract_text() or "").strip() for page in reader.pages]
            title = _clean_title(reader.metadata.title if reader.metadata else None)
        except Unreadable:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
            if "encrypt" in str(e).lower() or "password" in str(e).lower():
                raise Unreadable("encrypted PDF (needs a password)") from None
            raise Unreadable(f"not a readable PDF ({type(e).__name__}: {e})") from None
    finally:
        quiet.setLevel(level)
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise Unreadable(f"PDF has no text layer ({len(pages)} pages; a scan?)")
    return text, title


def docx_text(path: Path) -> tuple[str, str | None]:
    """(text, title) of a Word file: its paragraphs, then its tables' cells, a blank line between."""
    import docx

    if not zipfile.is_zipfile(path):
        raise Unreadable("not a Word .docx file (not a zip container)")
    try:
        document = docx.Document(str(path))
    except (KeyError, ValueError, zipfile.BadZipFile) as e:
        raise Unreadable(f"not a readable .docx ({type(e).__name__}: {e})") from None
    parts = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                parts.append(" | ".join(dict.fromkeys(cells)))  # merged cells repeat: once each
    text = "\n\n".join(parts)
    if not text:
        raise Unreadable("Word file has no text")
    title = _clean_title(document.core_properties.title)
    if title is None:
        styled = [p.text for p in document.paragraphs if p.text.strip() and p.style is not None
                  and (p.style.name or "").startswith(("Title", "Heading"))]
        title = _clean_title(styled[0]) if styled else None
    return text, title
