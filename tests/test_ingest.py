"""Ingest: formats, metadata, bad files, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

from rag.ingest import derive_title, extract_metadata, html_to_text, load_corpus

from .conftest import SEEDS


def test_seeds_ids_titles_and_metadata() -> None:
    docs, issues = load_corpus(SEEDS)
    assert issues == []
    by_id = {d.doc_id: d for d in docs}
    assert set(by_id) == {"000_dcecbc81de0b1c39", "001_537bed74b42447d1", "002_656a127584ff5753"}
    first = by_id["000_dcecbc81de0b1c39"]
    assert first.place == "BRUSSELS/WARSAW"
    assert first.title.startswith("The United States could turn to Canada")
    assert first.text == (SEEDS / "000_dcecbc81de0b1c39.txt").read_text(encoding="utf-8")
    third = by_id["002_656a127584ff5753"]
    assert third.source == "China Daily" and third.date == "August 1, 2003"


def test_formats(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(b"LONDON (Reuters) - Line one.\r\nLine two.\r\n")
    (tmp_path / "sub" / "b.md").write_text("# A markdown title\n\nBody text here.\n")
    (tmp_path / "c.html").write_text(
        "<html><head><title>Page title</title><script>var x = 'hidden';</script></head>"
        "<body><h1>Head</h1><p>Visible <b>text</b>.</p><style>p{}</style><div hidden>secret</div></body></html>"
    )
    (tmp_path / "d.jsonl").write_text(
        json.dumps({"id": "r1", "title": "Record one", "text": "First record.", "date": "2020-01-02", "url": "http://x"})
        + "\n{not json\n"
        + json.dumps({"id": "r2", "text": "Second record without title."})
        + "\n"
    )
    (tmp_path / "e.json").write_text(json.dumps([{"id": "j1", "title": "J", "text": "From a JSON list."}]))
    docs, issues = load_corpus(tmp_path)
    by_id = {d.doc_id: d for d in docs}
    assert set(by_id) == {"a", "b", "c", "r1", "r2", "j1"}
    assert by_id["a"].text == "LONDON (Reuters) - Line one.\nLine two.\n"
    assert by_id["a"].place == "LONDON" and by_id["a"].source == "Reuters"
    assert by_id["b"].title == "A markdown title" and by_id["b"].path == "sub/b.md"
    assert by_id["c"].title == "Page title"
    assert "Visible" in by_id["c"].text and "hidden" not in by_id["c"].text and "secret" not in by_id["c"].text
    assert by_id["r1"].date == "2020-01-02" and by_id["r1"].url == "http://x" and by_id["r1"].title == "Record one"
    assert by_id["r2"].title == "Second record without title"
    assert [(i.path, i.line) for i in issues] == [("d.jsonl", 2)]


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A good article about NATO.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("   \n\n")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01")
    (tmp_path / "big.txt").write_bytes(b"a" * 2048)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    docs, issues = load_corpus(tmp_path, max_bytes=1024)
    assert [d.doc_id for d in docs] == ["good"]
    reasons = {i.path: i.reason for i in issues}
    assert set(reasons) == {"empty.txt", "blank.txt", "latin1.txt", "binary.txt", "big.txt", "broken.json"}
    assert "UTF-8" in reasons["latin1.txt"] and "binary" in reasons["binary.txt"] and "too large" in reasons["big.txt"]


def test_duplicates_indexed_once_with_aliases(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text("Same story.")
    (tmp_path / "two.txt").write_text("Same story.")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "one.txt").write_text("Different story, same file name.")
    docs, issues = load_corpus(tmp_path)
    by_id = {d.doc_id: d for d in docs}
    assert by_id["one"].aliases == ["two.txt"]
    assert "x/one" in by_id
    assert len(issues) == 2


def test_derive_title_and_metadata() -> None:
    assert derive_title("Short headline\nBody.") == "Short headline"
    long = "WASHINGTON--" + "word " * 40 + "end."
    t = derive_title(long)
    assert t.endswith("…") and len(t) <= 91 and not t.startswith("WASHINGTON")
    meta = extract_metadata("PARIS, May 3 (Reuters) - Something happened.")
    assert meta == {"place": "PARIS", "source": "Reuters", "date": "May 3"}


def test_html_to_text_drops_scripts() -> None:
    text, title = html_to_text("<p>Hi <script>alert(1)</script>there</p><noscript>no</noscript>")
    assert "alert" not in text and "no" not in text.split() and title is None
