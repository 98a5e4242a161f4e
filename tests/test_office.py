"""PDF and Word files: text and title read, bad files refused with one line each, offsets exact."""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document
from rag.ingest import load_corpus, read_file

LEAD = "OTTAWA -- Canada will lead the NATO battlegroup in Latvia, sending 450 soldiers."
SECOND = "The deployment is expected to last at least two years, the minister said."


def text_pdf(path: Path, lines: list[str], title: str | None = None) -> Path:
    """A one-page PDF with ``lines`` as real text (Helvetica), written by hand: no PDF writer needed."""
    ops = ["BT /F1 11 Tf 72 720 Td 14 TL"] + [f"({line}) Tj T*" for line in lines] + ["ET"]
    stream = zlib.compress("\n".join(ops).encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if title:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    info = b" /Info %d 0 R" % len(objects) if title else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    path.write_bytes(bytes(out))
    return path


def word_file(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Canada to lead Latvia battlegroup", level=0)
    document.add_paragraph(LEAD)
    document.add_paragraph(SECOND)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Troops", "450"
    document.save(str(path))
    return path


def test_pdf_text_and_title(tmp_path: Path) -> None:
    pdf = text_pdf(tmp_path / "latvia.pdf", [LEAD, SECOND], title="Canada to lead")
    docs, issues = read_file(pdf, tmp_path)
    assert issues == [] and len(docs) == 1
    doc = docs[0]
    assert LEAD in doc.text and SECOND in doc.text and doc.title == "Canada to lead"
    assert doc.place == "OTTAWA"  # the dateline rules apply to every format's text


def test_docx_text_tables_and_title(tmp_path: Path) -> None:
    docs, issues = read_file(word_file(tmp_path / "latvia.docx"), tmp_path)
    assert issues == [] and len(docs) == 1
    doc = docs[0]
    assert doc.title == "Canada to lead Latvia battlegroup"
    assert LEAD in doc.text and SECOND in doc.text and "Troops | 450" in doc.text


def test_bad_pdf_and_word_files_are_one_line_each_and_the_rest_is_indexed(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    text_pdf(tmp_path / "good.pdf", [LEAD])
    word_file(tmp_path / "good.docx")
    writer = PdfWriter(clone_from=PdfReader(text_pdf(tmp_path / "plain.pdf", [SECOND])))
    writer.encrypt("secret")
    with (tmp_path / "locked.pdf").open("wb") as f:
        writer.write(f)
    (tmp_path / "plain.pdf").unlink()
    blank = PdfWriter()
    blank.add_blank_page(612, 792)  # a page with no text layer, as a scan has
    with (tmp_path / "scan.pdf").open("wb") as f:
        blank.write(f)
    (tmp_path / "zero.docx").write_bytes(b"")
    (tmp_path / "renamed.docx").write_bytes((tmp_path / "good.pdf").read_bytes())  # a PDF called .docx
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a PDF at all")
    docs, issues = load_corpus(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["good"] or sorted(d.path for d in docs) == ["good.docx", "good.pdf"]
    said = {i.path: i.reason for i in issues}
    assert "encrypted" in said["locked.pdf"]
    assert "no text layer" in said["scan.pdf"]
    assert "empty" in said["zero.docx"]
    assert "not a Word" in said["renamed.docx"]
    assert "not a readable PDF" in said["broken.pdf"] or "no text layer" in said["broken.pdf"]
    assert all("\n" not in str(i) for i in issues)


@pytest.mark.parametrize("kind", ["pdf", "docx"])
def test_offsets_are_exact_in_every_format(tmp_path: Path, kind: str) -> None:
    if kind == "pdf":
        text_pdf(tmp_path / "a.pdf", [LEAD, SECOND] * 20)
    else:
        word_file(tmp_path / "a.docx")
    docs, _ = load_corpus(tmp_path)
    for doc in docs:
        chunks = chunk_document(doc, 40, 1, lambda t: len(t.split()) + 2)
        assert chunks and all(doc.text[c.start : c.end] == c.text for c in chunks)


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüßçñ0123456789", min_size=1, max_size=12)
_SENTENCES = st.lists(_WORDS, min_size=4, max_size=18).map(lambda ws: " ".join(ws).capitalize() + ".")
_PARAGRAPHS = st.lists(st.lists(_SENTENCES, min_size=1, max_size=4).map(" ".join), min_size=3, max_size=8)


def _write(kind: str, folder: Path, paragraphs: list[str]) -> Path:
    import html

    if kind == "txt":
        path = folder / "a.txt"
        path.write_text("Headline of the article\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    elif kind == "html":
        path = folder / "a.html"
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        path.write_text(f"<html><head><meta charset='utf-8'><title>Headline</title></head><body><nav>Home | World"
                        f"</nav><article><h1>Headline</h1>{body}</article><footer>Contact us</footer></body></html>",
                        encoding="utf-8")
    elif kind == "pdf":
        path = text_pdf(folder / "a.pdf", [line for p in paragraphs for line in textwrap.wrap(p, 80)])
    else:
        import docx

        document = docx.Document()
        document.add_heading("Headline of the article", level=0)
        for p in paragraphs:
            document.add_paragraph(p)
        path = folder / "a.docx"
        document.save(str(path))
    return path


@pytest.mark.parametrize("kind", ["txt", "html", "pdf", "docx"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paragraphs=_PARAGRAPHS, size=st.integers(min_value=8, max_value=60), overlap=st.integers(0, 2))
def test_offsets_stay_exact_for_any_text_in_every_format(tmp_path: Path, kind: str, paragraphs: list[str],
                                                         size: int, overlap: int) -> None:
    """Whatever the article says, every chunk of every format is exactly ``text[start:end]`` of the stored
    text, and the stored text keeps the article's words."""
    folder = tmp_path / kind
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    docs, issues = read_file(_write(kind, folder, paragraphs), folder)
    assert issues == [] and len(docs) == 1, issues
    doc = docs[0]
    words = " ".join(doc.text.split())
    assert all(w in words for p in paragraphs for w in p.split()[:3])
    chunks = chunk_document(doc, size, overlap, lambda t: len(t.split()) + 2)
    assert chunks and all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert chunks[0].start >= 0 and chunks[-1].end <= len(doc.text)
