"""The web chat in a real browser: Debian's chromium driven by Playwright, against an in-process app.

Skipped when /usr/bin/chromium is absent (``.ci/run`` installs it).  Set RAG_UPDATE_SCREENSHOT=1 to
refresh docs/screenshot-chat.png from the answered chat.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.ui_server import Server
from ui.app import EXAMPLES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page, Request

    from rag.answer import AnswerSettings

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "screenshot-chat.png"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-quic", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT = 90_000  # ms: answers take a few seconds on a loaded 2-core machine
EVIL = "<img src=x onerror=alert(1)><script>window.pwned=1</script>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def server() -> Server:
    from tests.ui_server import shared_server

    return shared_server()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Watch:
    """What a page did that it must not: dialogs, outside requests, page errors."""

    def __init__(self, base_url: str) -> None:
        self.host = urlsplit(base_url).netloc
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def request(self, req: Request) -> None:
        parts = urlsplit(req.url)
        if parts.scheme in {"http", "https", "ws", "wss"} and parts.netloc != self.host:
            self.outside.append(req.url)

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self, page: Page) -> None:
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert self.dialogs == [], self.dialogs
        assert self.outside == [], f"requests left the machine: {self.outside}"
        assert self.errors == [], self.errors


WATCHES: dict[int, Watch] = {}


def check(page: Page) -> None:
    """No script ran, no dialog opened, nothing was fetched from outside, no page error."""
    WATCHES[id(page)].check(page)


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    watch = Watch(server.url)
    pg.on("request", watch.request)
    pg.on("dialog", watch.dialog)
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    WATCHES[id(pg)] = watch
    pg.goto(server.url)
    pg.wait_for_selector("#rag-question textarea")
    yield pg
    WATCHES.pop(id(pg), None)
    ctx.close()


def ask(page: Page, question: str) -> None:
    """Type ``question``, send it, and wait for its answer to be rendered."""
    replies = page.locator("#rag-chat .rag-answer, #rag-chat .rag-abstain, #rag-chat .rag-unsure")
    before = replies.count()
    page.fill("#rag-question textarea", question)
    page.click("#rag-ask")
    replies.nth(before).wait_for()


def server_settings() -> AnswerSettings:
    """The answering rule the test server's shipped reader applies (its reader_config.json)."""
    from rag.answer import AnswerSettings
    from rag.reader import DEFAULT_MODEL_DIR

    return AnswerSettings.from_reader_config(DEFAULT_MODEL_DIR)


def passages_shown() -> int:
    """How many passages an answer shows: all the second stage ordered (``rerank_depth``), else those read."""
    s = server_settings()
    return max(s.top_k, s.rerank_depth or 0)


def test_ask_about_the_seeds_shows_answer_quote_and_article(page: Page) -> None:
    chat = page.locator("#rag-chat")
    assert all(q in chat.inner_text() for q in EXAMPLES)  # the example questions on first view
    ask(page, "Who is the supreme allied commander of NATO?")

    assert "Craddock" in chat.locator(".rag-short").first.inner_text()
    strength = chat.locator(".rag-conf").first.inner_text()  # a calibrated reader's confidence, else its score
    calibrated = bool(server_settings().confidence)
    assert ("confidence" in strength) if calibrated else (strength.startswith("score") and "confidence" not in strength)
    quote = chat.locator(".rag-cite blockquote").first
    assert "He said Nato's supreme allied commander" in quote.inner_text()
    assert "Craddock" in quote.locator("mark").inner_text()
    assert "Nato's military commander wants" in chat.locator(".rag-cite .rag-title").first.inner_text()
    panel = page.locator("#rag-passages")
    assert panel.locator(".rag-passage").count() == passages_shown()  # the passages the reader weighed
    assert "score" in panel.locator(".rag-scores").first.inner_text()

    chat.locator(".rag-cite").first.click()  # the citation opens the whole article, quote highlighted
    article = page.locator("#rag-article")
    article.locator(".rag-hl mark").wait_for()
    assert "Craddock" in article.locator(".rag-hl mark").inner_text()
    assert article.locator(".rag-hl").inner_text().startswith("He said Nato's supreme allied commander")
    body = article.locator(".rag-article-text").inner_text()
    assert body.startswith("Nato's military commander wants") and body.rstrip().endswith("officials said.")
    page.mouse.move(0, 0)
    page.screenshot(path=str(Path(os.environ.get("TMPDIR", "/tmp")) / "rag-chat-answered.png"))
    if os.environ.get("RAG_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    panel.locator(".rag-passage").nth(1).click()  # a retrieved passage opens its article too
    page.wait_for_function("document.querySelector('#rag-article .rag-hl mark') === null")
    assert article.locator(".rag-hl").count() == 1
    check(page)


def test_html_question_shows_escaped_and_abstains(page: Page) -> None:
    question = f"{EVIL} Who won the 2010 World Cup?"
    ask(page, question)
    chat = page.locator("#rag-chat")
    assert question in chat.locator(".rag-question").first.inner_text()
    assert chat.locator("img[src='x'], script:not([src])").count() == 0
    assert EVIL in page.locator("#rag-passages .rag-panel-head").inner_text()
    assert "The articles do not answer this." in chat.locator(".rag-abstain").inner_text()
    closest = chat.locator(".rag-passage-card")
    assert closest.count() == min(3, passages_shown())  # up to 3 of the passages weighed
    closest.nth(1).click()
    page.locator("#rag-article .rag-hl").wait_for()
    page.wait_for_timeout(300)  # give any injected handler a chance to run
    check(page)


def test_not_sure_shows_candidates_and_a_follow_up_is_read_with_the_previous_turn(page: Page) -> None:
    """At threshold 1 the rule answers nothing, so a question whose best candidate scored shows "not sure"
    with its candidates in their sentences (not an answer); the next question, a follow-up, is shown with
    how it was read; a cleared chat starts a new conversation."""
    page.get_by_role("tab", name="Library").click()
    slider = page.locator("#rag-threshold input[type='number']")
    slider.fill("1")
    slider.press("Enter")
    page.get_by_role("tab", name="Chat").click()
    chat = page.locator("#rag-chat")
    ask(page, "Who is the supreme allied commander of NATO?")
    assert "Not sure." in chat.locator(".rag-unsure").inner_text()
    assert chat.locator(".rag-answer").count() == 0
    cards = chat.locator(".rag-candidate")
    assert 1 <= cards.count() <= 3
    assert cards.first.locator("blockquote mark").count() == 1
    cards.first.click()  # a candidate opens its article at its sentence
    page.locator("#rag-article .rag-hl mark").wait_for()
    ask(page, "Who did he start talks with?")
    resolved = chat.locator(".rag-resolved")
    assert resolved.count() == 1
    assert resolved.inner_text() == "read as: Who did the supreme allied commander of NATO start talks with?"
    if os.environ.get("RAG_UPDATE_SCREENSHOT"):
        page.mouse.move(0, 0)
        page.screenshot(path=str(ROOT / "docs" / "screenshot-not-sure.png"))
    chat.get_by_role("button", name=re.compile("clear", re.I)).click()
    page.wait_for_function("document.querySelectorAll('#rag-chat .rag-question').length === 0")
    ask(page, "Who did he start talks with?")  # a new conversation: nothing to lean on
    assert chat.locator(".rag-resolved").count() == 0
    check(page)


def test_upload_then_ask_about_it_then_delete_with_confirmation_and_undo(page: Page, server: Server,
                                                                        tmp_path: Path) -> None:
    src = tmp_path / "zorblat <b>festival.html"
    src.write_text(
        "<html><head><title>Zorblat &lt;script&gt;window.pwned=2&lt;/script&gt; festival</title></head><body>"
        "<p>The Zorblat festival in Quentaria was founded in 1931 by the baker Miriam Oduya.</p>"
        '<p>Visitors write &lt;img src=x onerror="window.pwned=3"&gt; on the wall, and '
        "&lt;script&gt;window.pwned=4&lt;/script&gt; too.</p>"
        "<script>window.pwned = 5</script><p>The mascot is a purple heron called Tibbet.</p></body></html>")
    page.get_by_role("tab", name="Library").click()
    library = page.locator("#rag-library")
    library.locator("table").wait_for()
    assert library.locator("tbody tr").count() >= 3
    page.set_input_files("#rag-upload input[type=file]", str(src))
    status = page.locator("#rag-status")
    status.get_by_text("articles,").wait_for()  # the final line, not the progress text
    stored = list((server.corpus / "uploads").glob("*.html"))
    assert len(stored) == 1 and re.fullmatch(r"zorblat_b?_?festival\.html", stored[0].name), stored
    assert f"✓ uploads/{stored[0].name}: indexed as" in status.inner_text(), status.inner_text()
    row = library.locator("tr", has_text="Zorblat")
    assert "Zorblat <script>window.pwned=2</script> festival" in row.inner_text()
    row.click()
    page.locator("#rag-article .rag-article-text").get_by_text("purple heron").wait_for()
    assert '<img src=x onerror="window.pwned=3">' in page.locator("#rag-article").inner_text()
    check(page)

    page.get_by_role("tab", name="Chat").click()
    ask(page, "Who founded the Zorblat festival?")
    answer = page.locator("#rag-chat .rag-cite").last
    assert "Miriam Oduya" in answer.locator("mark").inner_text()
    assert "Zorblat <script>" in answer.locator(".rag-title").inner_text()
    ask(page, "What do visitors write on the wall?")
    assert "<img src=x onerror=" in page.locator("#rag-chat .rag-cite blockquote").last.inner_text()
    assert page.locator("#rag-chat .rag-question").count() == 2  # the chat keeps its history
    check(page)

    page.get_by_role("tab", name="Library").click()
    original = stored[0].read_bytes()

    def choose_and_delete() -> None:
        page.locator("#rag-delete-choice input").click()
        # scoped to its own dropdown: another dropdown's list may still be open while it closes
        option = page.locator("#rag-delete-choice").get_by_role("option", name="Zorblat", exact=False)
        assert "<script>" in option.inner_text()
        option.click()
        page.click("#rag-delete")
        confirm = page.locator("#rag-confirm")
        confirm.get_by_text("Delete").first.wait_for()  # asks first, naming the article
        assert "Zorblat <script>window.pwned=2</script> festival" in confirm.inner_text()
        assert library.locator("tr", has_text="Zorblat").count() == 1 and stored[0].exists()  # nothing yet

    choose_and_delete()
    page.click("#rag-cancel-delete")  # cancel: nothing happens
    page.locator("#rag-confirm").wait_for(state="hidden")
    assert library.locator("tr", has_text="Zorblat").count() == 1 and stored[0].exists()

    choose_and_delete()
    page.click("#rag-confirm-delete")
    status.get_by_text("Deleted").wait_for()
    assert "rag trash restore" in status.inner_text()
    library.locator("tr", has_text="Zorblat").wait_for(state="detached")
    assert not stored[0].exists()
    assert list((server.corpus / ".trash").rglob(stored[0].name))  # kept in the trash
    changes = page.locator("#rag-changes")
    assert "delete" in changes.locator("tbody tr").first.inner_text()

    page.click("#rag-undo")  # Undo: back in the index and in its folder, byte for byte
    status.get_by_text("Restored").wait_for()
    library.locator("tr", has_text="Zorblat").wait_for()
    assert stored[0].read_bytes() == original
    assert "restore" in changes.locator("tbody tr").first.inner_text()
    assert page.locator("#rag-undo").is_hidden()

    choose_and_delete()  # and any later time, from the trash list
    page.click("#rag-confirm-delete")
    library.locator("tr", has_text="Zorblat").wait_for(state="detached")
    page.locator("#rag-trash-choice input").click()
    page.locator("#rag-trash-choice").get_by_role("option", name="Zorblat", exact=False).click()
    page.click("#rag-restore")
    library.locator("tr", has_text="Zorblat").wait_for()
    assert stored[0].read_bytes() == original
    check(page)


def test_rejected_upload_is_not_stored(page: Page, server: Server, tmp_path: Path) -> None:
    src = tmp_path / "payload.sh"
    src.write_text("#!/bin/sh\necho pwned\n")
    page.get_by_role("tab", name="Library").click()
    page.set_input_files("#rag-upload input[type=file]", str(src))
    # refused by Gradio's upload route (file_types) or, failing that, by our own check (ui.uploads)
    page.wait_for_function("document.querySelector('#rag-status').innerText.includes('✗')"
                           " || document.body.innerText.includes('Invalid file type')")
    uploads = server.corpus / "uploads"
    assert not any(p.suffix == ".sh" for p in uploads.rglob("*")) if uploads.exists() else True
    check(page)


def _open(browser: Browser, url: str, login: tuple[str, str] | None = None) -> tuple[Page, Watch]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    watch = Watch(url)
    pg.on("request", watch.request)
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    pg.goto(url)
    if login is not None:
        pg.locator("input[type=password]").wait_for()
        pg.locator("input:not([type=password])").first.fill(login[0])
        pg.locator("input[type=password]").fill(login[1])
        pg.get_by_role("button", name="Login").click()
    pg.wait_for_selector("#rag-question textarea")
    return pg, watch


@pytest.mark.parametrize("who", ["read-only", "not an admin", "admin"])
def test_read_only_page_offers_no_change(browser: Browser, server: Server, who: str) -> None:
    """Served read-only, or to a user not named by --admin, the Library lists articles and changes but
    offers no upload, delete or restore; an admin gets them."""
    from tests.ui_server import free_port
    from ui.app import Access, create_app, launch

    users = [("ann", "s3cret"), ("bob", "hunter2")]
    access = Access(read_only=True) if who == "read-only" else Access(admins=frozenset({"ann"}))
    app = create_app(server.qa, access=access)
    url = launch(app, host="127.0.0.1", port=free_port(), auth=None if who == "read-only" else users, block=False)
    try:
        pg, watch = _open(browser, url, None if who == "read-only" else users[0 if who == "admin" else 1])
        pg.get_by_role("tab", name="Library").click()
        pg.locator("#rag-library table").wait_for()
        pg.locator("#rag-changes").wait_for()
        if who == "admin":
            pg.locator("#rag-delete").wait_for()
            assert pg.locator("#rag-upload").is_visible()
        else:
            pg.wait_for_timeout(1500)  # the page's load event has run (the library is filled by it)
            for control in ("#rag-upload", "#rag-delete", "#rag-restore", "#rag-undo"):
                assert pg.locator(control).count() == 0 or not pg.locator(control).is_visible(), control
        pg.get_by_role("tab", name="Chat").click()
        ask(pg, "Which country leads the battalion?")  # questions still work
        assert watch.errors == [] and watch.outside == []
        pg.context.close()
    finally:
        app.close()


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (390, 844)])
def test_layout_fills_the_window_and_works_from_the_keyboard(browser: Browser, server: Server, width: int,
                                                             height: int, tmp_path: Path) -> None:
    """Wide: the chat fills the window's height, the passages and the article sit readable beside it.
    Phone: they stack under the chat, nothing is wider than the screen. Both: Enter asks, and the
    cursor is back in the question box once the answer shows. Screenshots of both are kept."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    try:
        pg.goto(server.url)
        box = pg.locator("#rag-question textarea")
        box.wait_for()
        box.click()
        pg.keyboard.type("Which country leads the battalion?")
        pg.keyboard.press("Enter")  # no mouse from here on
        pg.locator("#rag-chat .rag-answer, #rag-chat .rag-abstain, #rag-chat .rag-unsure").first.wait_for()
        pg.wait_for_function("document.activeElement === document.querySelector('#rag-question textarea')")
        chat = pg.locator("#rag-chat").bounding_box()
        passages = pg.locator("#rag-passages").bounding_box()
        article = pg.locator("#rag-article").bounding_box()
        assert chat is not None and passages is not None and article is not None
        assert pg.evaluate("document.documentElement.scrollWidth") <= width + 1  # no sideways scrolling
        if width >= 1000:
            assert chat["height"] >= 0.6 * height, chat  # fills the window, not a fixed small box
            assert passages["x"] >= chat["x"] + chat["width"] - 1 and passages["width"] >= 350, passages
            assert article["x"] == pytest.approx(passages["x"], abs=2)
        else:
            assert chat["width"] >= width - 50, chat  # the screen's width, less a thin margin
            assert passages["y"] >= chat["y"] + chat["height"] - 1, (chat, passages)  # under the chat
            assert passages["width"] >= width - 50
        shot = tmp_path / f"rag-chat-{width}.png"
        pg.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("RAG_UPDATE_SCREENSHOT"):
            pg.screenshot(path=str(ROOT / "docs" / f"screenshot-chat-{width}px.png"), full_page=width < 1000)
    finally:
        ctx.close()
