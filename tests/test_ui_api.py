"""The web app without a browser: HTML rendering and escaping, upload hygiene, auth, and ``/ask`` via gradio_client."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AuthenticationError  # noqa: E402

from rag import Answer, Candidate, Citation, Document, Passage  # noqa: E402
from tests.ui_server import Server  # noqa: E402
from ui.render import (  # noqa: E402
    Ref,
    answer_messages,
    article_html,
    esc,
    highlight,
    library_html,
    passages_html,
    question_html,
)
from ui.uploads import (  # noqa: E402
    MAX_UPLOAD_BYTES,
    UPLOAD_SUBDIR,
    UploadRejected,
    check_upload,
    safe_name,
    store_upload,
)

EVIL = '<img src=x onerror=alert(1)><script>window.pwned=1</script>'
EVIL_DOC_TEXT = f'Intro. The mayor said {EVIL} loudly. The end & "more".'


def evil_doc() -> Document:
    return Document(doc_id='d"1<b>', title=f"Title {EVIL}", text=EVIL_DOC_TEXT, date="<i>May</i>")


def evil_answer(doc: Document) -> Answer:
    qs = doc.text.index("The mayor")
    qe = doc.text.index("loudly.") + len("loudly.")
    a_s = doc.text.index("<img")
    a_e = doc.text.index("</script>") + len("</script>")
    cit = Citation(doc_id=doc.doc_id, title=doc.title, quote=doc.text[qs:qe], quote_start=qs, quote_end=qe,
                   answer_start=a_s, answer_end=a_e, score=0.8, chunk_id=0)
    passage = Passage(chunk_id=0, doc_id=doc.doc_id, title=doc.title, start=0, end=len(doc.text), text=doc.text,
                      score=0.5, dense_score=0.7, lexical_score=3.2)
    return Answer(question=f"What did the mayor say? {EVIL}", text=doc.text[a_s:a_e], score=0.8,
                  citations=[cit], passages=[passage], answerer="sentence")


def assert_no_live_markup(html: str) -> None:
    assert "<img" not in html and "<script" not in html and "<i>" not in html and "<b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


# ---- rendering ---------------------------------------------------------------------------------
def test_esc_escapes_quotes_and_tags() -> None:
    assert esc('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"


def test_highlight_marks_answer_inside_quote_by_offsets() -> None:
    text = "aaa <b>bbb</b> ccc"
    out = highlight(text, 0, len(text), text.index("<b>"), text.index("</b>") + 4)
    assert out == "aaa <mark>&lt;b&gt;bbb&lt;/b&gt;</mark> ccc"
    # answer offsets outside the quote are clamped, a missing answer gives no mark
    assert highlight(text, 4, 7, 0, 100) == "<mark>&lt;b&gt;</mark>"
    assert highlight(text, 0, 3) == "aaa"


def test_answer_messages_escape_everything_and_highlight() -> None:
    doc = evil_doc()
    ans = evil_answer(doc)
    msgs = answer_messages(ans, lambda d: doc if d == doc.doc_id else None)
    assert len(msgs) == 2 and msgs[0][1] is None
    head, (cite, ref) = msgs[0][0], msgs[1]
    assert "score 0.80" in head and "confidence" not in head  # an uncalibrated score is not called confidence
    calibrated = answer_messages(ans.model_copy(update={"confidence": 0.83}), lambda d: doc)[0][0]
    assert "confidence 83% (high)" in calibrated
    assert_no_live_markup(head)
    assert_no_live_markup(cite)
    assert "<mark>&lt;img src=x" in cite and "&lt;/script&gt;</mark> loudly." in cite
    assert "Title &lt;img" in cite
    assert ref == Ref(doc.doc_id, ans.citations[0].quote_start, ans.citations[0].quote_end,
                      ans.citations[0].answer_start, ans.citations[0].answer_end)
    assert 'data-doc="d&quot;1&lt;b&gt;"' in ref.attrs()
    # without the document (deleted meanwhile) the quote alone is highlighted the same way
    msgs2 = answer_messages(ans, lambda d: None)
    assert msgs2[1][0] == cite


def test_abstention_says_so_and_lists_closest_passages() -> None:
    doc = evil_doc()
    ans = evil_answer(doc).model_copy(update={"text": None, "citations": [], "score": 0.1})
    msgs = answer_messages(ans, lambda d: doc)
    assert "The articles do not answer this." in msgs[0][0]
    assert len(msgs) == 2 and msgs[1][1] == Ref(doc.doc_id, 0, len(doc.text))
    assert_no_live_markup(msgs[1][0])


def test_unsure_shows_the_candidates_with_their_quotes_not_an_answer() -> None:
    doc = evil_doc()
    ans = evil_answer(doc)
    cand = Candidate(text=ans.text or "", score=0.03, citation=ans.citations[0])
    unsure = Answer(question=ans.question, text=None, score=0.03, citations=[], passages=ans.passages,
                    answerer="reader", candidates=[cand], status="unsure")
    msgs = answer_messages(unsure, lambda d: doc, unsure_share=0.348)
    assert "Not sure." in msgs[0][0] and "do not answer" not in msgs[0][0]
    assert "about 3 in 10 such lists held the answer" in msgs[0][0]
    assert "Answer</span>" not in "".join(m for m, _ in msgs)
    cite = ans.citations[0]
    assert msgs[1][1] == Ref(doc.doc_id, cite.quote_start, cite.quote_end, cite.answer_start, cite.answer_end)
    assert "Candidate 1" in msgs[1][0] and "<mark>" in msgs[1][0] and "score 0.03" in msgs[1][0]
    assert_no_live_markup(msgs[1][0])
    nothing = unsure.model_copy(update={"status": "unanswered"})
    assert "The articles do not answer this." in answer_messages(nothing, lambda d: doc)[0][0]


def test_a_follow_up_shows_how_it_was_read() -> None:
    assert "read as: Who did &lt;b&gt;Dahl&lt;/b&gt; meet?" in question_html("Who did she meet?",
                                                                            "Who did <b>Dahl</b> meet?")
    assert "read with the previous question" in question_html("How long is it?", "How long is it?")
    assert "rag-resolved" not in question_html("How long is the bridge?")


def test_panels_escape_and_show_scores() -> None:
    doc = evil_doc()
    ans = evil_answer(doc)
    panel = passages_html(ans)
    assert_no_live_markup(panel)
    assert "score 0.500" in panel and "cosine 0.70" in panel and "BM25 3.2" in panel and "cited" in panel
    assert "reader" not in panel  # no second stage ran
    weighed = ans.model_copy(update={"passages": [p.model_copy(update={"evidence": -1.25}) for p in ans.passages]})
    assert "reader -1.2" in passages_html(weighed)  # the reader's evidence, when the second stage ordered them
    art = article_html(doc, Ref(doc.doc_id, 6, 30, 10, 20))
    assert art.count("<mark>") == 1 and '<span class="rag-hl">' in art
    assert "&lt;i&gt;May&lt;/i&gt;" in art
    assert_no_live_markup(article_html(doc))
    lib = library_html([doc], lambda d: 3)
    assert "<td>3</td>" in lib and "&lt;i&gt;May&lt;/i&gt;" in lib
    assert_no_live_markup(lib)
    assert question_html(EVIL) == f'<div class="rag-question">{esc(EVIL)}</div>'


# ---- uploads -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\win\\evil.md", "evil.md"),
    ("My Article (1).HTML", "My_Article_1.html"),
    (".hidden.jsonl", "hidden.jsonl"),
    ("<script>x</script>.txt", "script.txt"),
    ("", "article"),
])
def test_safe_name(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_check_upload_rejects_bad_extensions_and_sizes() -> None:
    for bad in ["run.py", "x.exe", "a.txt.sh", "page.php", "noext"]:
        with pytest.raises(UploadRejected):
            check_upload(bad, 10)
    with pytest.raises(UploadRejected):
        check_upload("big.txt", MAX_UPLOAD_BYTES + 1)
    with pytest.raises(UploadRejected):
        check_upload("empty.txt", 0)
    assert check_upload("ok.JSONL", 10) == "ok.jsonl"


def test_store_upload_stays_in_corpus_never_overwrites_never_executable(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = tmp_path / "in.txt"
    src.write_text("Some article text.")
    src.chmod(0o755)
    first = store_upload(src, "../../../outside.txt", corpus)
    second = store_upload(src, "outside.txt", corpus)
    assert first == (corpus / UPLOAD_SUBDIR / "outside.txt").resolve()
    assert second.name == "outside-2.txt" and second.parent == first.parent
    assert not (tmp_path / "outside.txt").exists()
    assert not first.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    assert sorted(p.name for p in first.parent.iterdir()) == ["outside-2.txt", "outside.txt"]  # no temp left


def test_parse_auth() -> None:
    from ui.app import parse_auth

    assert parse_auth(None) is None
    assert parse_auth("ann:se:cret") == ("ann", "se:cret")
    for bad in ["ann", ":pw", "ann:"]:
        with pytest.raises(ValueError):
            parse_auth(bad)


# ---- the running app ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Server:
    from tests.ui_server import shared_server

    return shared_server()


@pytest.fixture(scope="module")
def client(server: Server) -> Client:
    return Client(server.url, verbose=False)


@pytest.mark.slow
def test_index_built_from_corpus_on_first_serve(server: Server) -> None:
    from ui.app import open_or_build

    assert server.qa.last_report is not None and server.qa.last_report.documents == 3
    reopened = open_or_build(server.index_dir, server.corpus / "missing", reader=None)  # opens, builds nothing
    assert reopened.last_report is None and len(reopened.documents()) >= 3


@pytest.mark.slow
def test_ask_endpoint_is_the_documented_api(client: Client) -> None:
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/ask"]
    assert [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]] == ["question", "top_k"]


@pytest.mark.slow
def test_ask_endpoint_returns_answer_json(client: Client) -> None:
    out = client.predict("Who is the supreme allied commander of NATO?", 5, api_name="/ask")
    assert isinstance(out, dict)
    assert {"text", "score", "citations", "passages", "answerer"} <= set(out)
    assert "Craddock" in out["text"] and 0.0 <= out["score"] <= 1.0
    cit = out["citations"][0]
    assert cit["doc_id"] == "001_537bed74b42447d1" and "Craddock" in cit["quote"]
    assert cit["quote_start"] <= cit["answer_start"] < cit["answer_end"] <= cit["quote_end"]
    Answer.model_validate(out)

    none = client.predict("Who won the 2010 World Cup?", 3, api_name="/ask")
    assert none["text"] is None and none["citations"] == [] and len(none["passages"]) == 3


@pytest.mark.slow
def test_ask_endpoint_rejects_empty_question(client: Client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="empty"):
        client.predict("   ", 5, api_name="/ask")


@pytest.mark.slow
def test_concurrent_users_through_the_queue(server: Server) -> None:
    questions = ["How many US soldiers have been killed in Iraq?", "Who won the 2010 World Cup?",
                 "Who is the supreme allied commander of NATO?"] * 3

    def one(q: str) -> dict[str, Any]:
        return Client(server.url, verbose=False).predict(q, 3, api_name="/ask")

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(one, questions, timeout=300))
    assert len(results) == len(questions)
    assert all(r["question"] == q for r, q in zip(results, questions, strict=True))
    assert results[1]["text"] is None and "Craddock" in results[2]["text"]


@pytest.mark.slow
def test_authentication(server: Server) -> None:
    from tests.ui_server import free_port
    from ui.app import create_app, launch

    app = create_app(server.qa)
    url = launch(app, host="127.0.0.1", port=free_port(), auth=("ann", "s3cret"), block=False)
    try:
        with pytest.raises(AuthenticationError):  # no credentials: the config is refused (401)
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):  # wrong password: the login is refused
            Client(url, auth=("ann", "wrong"), verbose=False)
        out = Client(url, auth=("ann", "s3cret"), verbose=False).predict(
            "Who is the supreme allied commander of NATO?", 3, api_name="/ask")
        assert "Craddock" in out["text"]
    finally:
        app.close()
