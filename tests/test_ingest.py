"""Ingest: formats, metadata, bad files, duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest import derive_title, extract_metadata, load_corpus, read_file
from rag.webpage import declared_encoding, decode_html, extract_page

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
    assert by_id["c"].title in {"Page title", "Head"}  # the page's title or its heading (trafilatura's choice)
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


def test_web_page_main_text_without_boilerplate_scripts_or_hidden_parts() -> None:
    html = ("<html lang='en'><head><title>Canada to lead Latvia battlegroup | The Daily Planet</title>"
            "<meta name='author' content='Ann Reporter'><meta property='og:site_name' content='The Daily Planet'>"
            "<meta property='article:published_time' content='2016-06-14T10:00:00Z'>"
            "<script>var tracking = 'alert(1)';</script></head><body>"
            "<nav><a href='/'>Home</a> | <a href='/world'>World</a> | <a href='/sport'>Sport</a></nav>"
            "<div class='cookie-banner' hidden>We use cookies to improve your experience.</div>"
            "<article><h1>Canada to lead Latvia battlegroup</h1>"
            "<p>OTTAWA -- Canada will lead the NATO battlegroup in Latvia, sending 450 soldiers to the Baltic "
            "country as part of the alliance's new presence on its eastern flank, officials said on Tuesday.</p>"
            "<p>The deployment is expected to last at least two years, the defence minister told reporters in "
            "Ottawa, adding that the troops would arrive early next year.</p>"
            "<span style='display: none'>Invisible promotional text</span></article>"
            "<section class='comments'><h2>Comments</h2><p>First! Great article, thanks.</p></section>"
            "<footer>Copyright 2016 The Daily Planet. All rights reserved. Impressum.</footer></body></html>")
    page = extract_page(html)
    assert page is not None
    assert "Canada will lead the NATO battlegroup in Latvia" in page.text and "two years" in page.text
    for junk in ("tracking", "cookies", "Invisible promotional", "First! Great article", "All rights reserved"):
        assert junk not in page.text, junk
    assert page.date == "2016-06-14" and page.author == "Ann Reporter" and page.sitename == "The Daily Planet"
    assert page.title is not None and page.title.startswith("Canada to lead Latvia battlegroup")
    assert page.language == "en"
    assert extract_page("<html><body><script>x()</script></body></html>") is None


def test_web_page_encoding_is_read_as_a_browser_reads_it() -> None:
    text = "Café crème à Genève: naïve façade"
    body = f"<html><head>{{}}</head><body><p>{text}</p></body></html>"
    latin = body.format("<meta charset='ISO-8859-1'>").encode("cp1252")
    assert declared_encoding(latin) == "cp1252" and text in decode_html(latin)  # latin-1 means windows-1252
    equiv = body.format('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">')
    assert text in decode_html(equiv.encode("cp1252"))
    assert text in decode_html(codecs_bom("utf-16") + body.format("").encode("utf-16-le"))
    assert text in decode_html(body.format("").encode("utf-8"))  # no declaration: UTF-8 when it is
    wrong = body.format("<meta charset='utf-8'>").encode("cp1252")  # a wrong declaration: detected instead
    assert "Caf" in decode_html(wrong) and "\ufffd" not in decode_html(wrong)
    with pytest.raises(ValueError, match="binary"):
        decode_html(b"\x89PNG\x00\x00")
    stray = body.format("").encode("utf-8").replace(b"<body>", b"<body>" + b" " * 2000 + b"\x00")  # as real pages
    assert text in decode_html(stray) and "\x00" not in decode_html(stray)


def codecs_bom(kind: str) -> bytes:
    import codecs

    return codecs.BOM_UTF16_LE if kind == "utf-16" else codecs.BOM_UTF8


def test_a_page_with_no_main_text_is_skipped_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty.html").write_text("<html><head><title>x</title></head><body><script>x()</script></body></html>")
    docs, issues = read_file(tmp_path / "empty.html", tmp_path)
    assert docs == [] and [str(i) for i in issues] == ["empty.html: no main text found in the page"]


def test_the_site_name_is_not_part_of_the_title() -> None:
    from rag.webpage import strip_site_name

    assert strip_site_name("Canada to lead battlegroup | The Daily Planet", "The Daily Planet", None) == \
        "Canada to lead battlegroup"
    assert strip_site_name("Daily Planet - Canada to lead battlegroup", None, "www.dailyplanet.com") == \
        "Canada to lead battlegroup"
    assert strip_site_name("Canada - a new role in the Baltics", "Daily Planet", "dailyplanet.com") == \
        "Canada - a new role in the Baltics"  # a dash inside the headline stays
    assert strip_site_name("Daily Planet", "Daily Planet", None) == "Daily Planet"  # never left empty


def _tree(body: str, title: str = "") -> object:
    import lxml.html

    return lxml.html.document_fromstring(f"<html><head><title>{title}</title></head><body>{body}</body></html>")


def test_the_headline_drops_a_kicker_the_metadata_title_lacks() -> None:
    from rag.webpage import headline

    tree = _tree('<h1><span class="roofline">Tunesien</span> Gro\u00dfe Aufgaben f\u00fcr die neue Regierung</h1>')
    assert headline(tree, "Gro\u00dfe Aufgaben f\u00fcr die neue Regierung", None, None) == \
        "Gro\u00dfe Aufgaben f\u00fcr die neue Regierung"
    # the page's own spelling (soft hyphens) is kept, not the metadata's
    tree = _tree("<h1><span>Ern\u00e4hrung</span> Schulze: Welt\u00adern\u00e4hrungs\u00adprogramm hilft</h1>")
    assert headline(tree, "Schulze: Welternährungsprogramm hilft", None, None) == \
        "Schulze: Welt\u00adern\u00e4hrungs\u00adprogramm hilft"


def test_the_headline_skips_the_site_logo_and_trusts_a_long_h1() -> None:
    from rag.webpage import headline

    logo = '<h1><a href="https://www.example.org/">Daily Planet</a></h1>'
    tree = _tree(logo + "<h1>Canada will lead the new battlegroup in Latvia</h1>")
    assert headline(tree, "Battlegroup news | Daily Planet", "Daily Planet", "example.org") == \
        "Canada will lead the new battlegroup in Latvia"  # six words or more: the headline
    tree = _tree("<h1>Newsletter</h1>")
    assert headline(tree, "Canada to lead battlegroup", None, None) == "Canada to lead battlegroup"  # short, unrelated
    # the metadata names only the site (the logo): the page's <title> less the site's name
    tree = _tree(logo, "Canada to lead battlegroup : Daily Planet")
    assert headline(tree, "Daily Planet", None, "example.org") == "Canada to lead battlegroup"
    # the metadata title is nowhere in <title>: <title> less the site's name
    tree = _tree("<p>x</p>", "Repair caf\u00e9 on 31 January: City of Ahlen")
    assert headline(tree, "News", "City of Ahlen", None) == "Repair caf\u00e9 on 31 January"
