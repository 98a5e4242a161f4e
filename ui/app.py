"""The web chat: ``create_app(qa)`` builds the Gradio Blocks, ``serve(...)`` opens or builds the index and runs it.

Everything from articles and questions reaches the page as HTML we build with ``html.escape`` (see
``ui.render``), inside components that sanitise HTML as well.  The app talks to the library only through
the public ``rag.Assistant`` API.  ``/ask`` is the one documented API endpoint (see README).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import datetime as dt  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from rag import Answer, Assistant, DocFilter, Document, TrashEntry, Turn  # noqa: E402
from rag.errors import RagError  # noqa: E402
from ui.render import (  # noqa: E402
    Ref,
    answer_messages,
    article_html,
    changes_html,
    esc,
    library_html,
    passages_html,
    question_html,
)
from ui.uploads import ALLOWED_SUFFIXES, MAX_UPLOAD_BYTES, UploadRejected, store_upload  # noqa: E402

EXAMPLES = [
    "Who is NATO's supreme allied commander?",
    "How many troops would the rotating force in eastern Europe have?",
    "How many US soldiers have been killed in Iraq?",
    "Who won the 2010 World Cup?",
]
CHAT_HEIGHT = "calc(100vh - 230px)"  # the chat fills the window below the title and above the question box
# After an answer, the cursor goes back to the question box (keyboard-only use: type, Enter, read, type).
FOCUS_QUESTION_JS = "() => { document.querySelector('#rag-question textarea')?.focus(); }"
MAX_TOP_K = 20
MAX_TURNS = 20  # earlier turns a chat session keeps (the follow-up rule reads only the last)
ASK_CONCURRENCY = 2  # the questions are CPU-bound: one per core
MAX_QUEUE = 64

# Forward clicks on elements carrying data-doc to the server as a `select` event.
CLICK_JS = """
element.addEventListener('click', (e) => {
  const el = e.target.closest('[data-doc]');
  if (!el || !element.contains(el)) return;
  const d = el.dataset;
  trigger('select', {index: [d.start, d.end, d.astart, d.aend], value: d.doc});
});
"""
# Article panel: also scroll the highlighted quote into view whenever the article changes.
ARTICLE_JS = """
watch('value', () => {
  const box = element.querySelector('.rag-article-text');
  const hl = element.querySelector('.rag-hl');
  if (box && hl) box.scrollTop = Math.max(0, hl.offsetTop - box.offsetTop - 60);
});
"""

CSS = """
.rag-question { white-space: pre-wrap; overflow-wrap: anywhere; }
.rag-answer { font-size: 1.1em; }
.rag-label { font-size: .75em; text-transform: uppercase; letter-spacing: .05em; opacity: .7; margin-right: .4em; }
.rag-meta { margin-top: .3em; font-size: .85em; }
.rag-conf { padding: 1px 8px; border-radius: 10px; font-weight: 600; }
.rag-conf-high { background: #d1fae5; color: #065f46; }
.rag-conf-medium { background: #fef3c7; color: #92400e; }
.rag-conf-low { background: #fee2e2; color: #991b1b; }
.rag-by, .rag-docid, .rag-hint, .rag-scores, .rag-article-meta { opacity: .7; font-size: .85em; }
.rag-title { font-weight: 600; }
.rag-quote { margin: .4em 0; padding-left: .8em; border-left: 3px solid #f59e0b; font-style: italic; }
.rag-quote mark, .rag-article mark { background: #fde047; color: inherit; padding: 0 2px; border-radius: 2px;
  font-style: normal; font-weight: 600; }
.rag-abstain { font-size: 1.05em; }
.rag-unsure { font-size: 1.05em; }
.rag-candidate { border-left: 3px solid #d4d4d8; padding-left: 8px; }
.rag-resolved { font-size: .8em; opacity: .75; margin-top: 2px; overflow-wrap: anywhere; }
.rag-notice { font-size: .85em; color: #92400e; }
.rag-passage { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px;
  margin-bottom: 8px; }
.rag-clickable { cursor: pointer; }
.rag-clickable:hover { background: var(--background-fill-secondary); }
.rag-excerpt { font-size: .9em; margin-top: 4px; overflow-wrap: anywhere; }
.rag-badge { background: #fde047; border-radius: 6px; padding: 0 6px; font-size: .75em; margin-left: 4px; }
.rag-panel-head { margin-bottom: 8px; font-size: .9em; }
.rag-empty { opacity: .7; font-style: italic; padding: 8px; }
.rag-article-text { white-space: pre-wrap; overflow-wrap: anywhere; max-height: calc(100vh - 420px);
  min-height: 200px; overflow-y: auto;
  line-height: 1.5; padding-right: 6px; }
.rag-hl { background: #fef9c3; outline: 1px solid #facc15; }
.rag-article-title { margin: 0 0 4px 0; }
table.rag-library { width: 100%; border-collapse: collapse; }
table.rag-library th, table.rag-library td { text-align: left; padding: 6px 8px; border: none;
  border-bottom: 1px solid var(--border-color-primary); overflow-wrap: anywhere; }
table.rag-library td:last-child, table.rag-library th:last-child { white-space: nowrap; width: 1%; }
.rag-scroll { max-height: 380px; overflow-y: auto; padding-right: 4px; }
@media (max-width: 640px) {  /* a phone: the columns stack */
  .rag-article-text { max-height: 60vh; }
}
"""

# Outside Gradio's scoping of CSS (it prefixes every rule with its container): on a phone, the page's
# 32 px side padding would take a sixth of the screen from the text.
HEAD = ("<style>@media (max-width: 640px) { .gradio-container .main.app { padding-left: 6px !important;"
        " padding-right: 6px !important; } }</style>")

# System fonts only: the default theme would fetch web fonts from an outside host.
THEME = gr.themes.Soft(
    primary_hue="amber",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)


def _lookup(qa: Assistant) -> Any:
    def get(doc_id: str) -> Document | None:
        try:
            return qa.document(doc_id)
        except KeyError:
            return None

    return get


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ref_from_event(evt: gr.SelectData) -> Ref | None:
    """The ``Ref`` a click in one of our HTML panels sent (``index``: 4 offsets, ``value``: doc id)."""
    idx = evt.index if isinstance(evt.index, list | tuple) else []
    if not isinstance(evt.value, str) or len(idx) != 4:
        return None
    start, end = _int(idx[0]), _int(idx[1])
    if start is None or end is None:
        return None
    return Ref(evt.value, start, end, _int(idx[2]), _int(idx[3]))


def doc_filter(since: str | None, until: str | None, sources: list[str] | None) -> DocFilter:
    """The settings' date range and sources as a ``DocFilter``; ``ValueError`` for a day that is not
    YYYY-MM-DD (the chat shows it as a warning)."""

    def day(text: str | None, what: str) -> dt.date | None:
        text = (text or "").strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{what} must be a day written YYYY-MM-DD, not {text!r}") from None

    return DocFilter(since=day(since, "Published from"), until=day(until, "Published until"),
                     sources=tuple(sources) if sources else None)


def chosen_threshold(slider: float, default: float) -> float | None:
    """The slider's threshold, or None (the reader's own rule, exactly) when it shows the default: the
    slider's 0.001 steps must not make the chat apply another rule than ``/ask``."""
    return None if abs(float(slider) - default) < 0.0005 else float(slider)


@dataclass(frozen=True)
class Access:
    """Who may change the library (upload, delete, restore) from the page: nobody when ``read_only``,
    else the users named in ``admins``, else (no admins named) whoever can open the page. The page shows
    the controls only to those who may use them, and every handler that changes the library checks
    again, so a direct call is refused too."""

    read_only: bool = False
    admins: frozenset[str] | None = None

    def may_change(self, user: str | None) -> bool:
        if self.read_only:
            return False
        return self.admins is None or (user is not None and user in self.admins)


def _user(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) if request is not None else None


def passages_read(top_k: float | None) -> int | None:
    """The passages to read for a slider or API value, within 1..MAX_TOP_K (None: the reader's own)."""
    return None if top_k is None else max(1, min(MAX_TOP_K, int(top_k)))


class Handlers:
    """What the page's events run, over one ``Assistant`` (each handler a method, each short)."""

    def __init__(self, qa: Assistant, access: Access | None = None) -> None:
        self.qa = qa
        self.access = access or Access()
        self.lookup = _lookup(qa)
        self.default_threshold = qa.settings.threshold
        self.default_top_k = qa.settings.top_k  # the reader's own (reader_config.json), chosen with its rule

    def _may_change(self, request: gr.Request | None) -> str | None:
        """The user, when they may change the library; ``gr.Error`` otherwise."""
        user = _user(request)
        if not self.access.may_change(user):
            raise gr.Error("This library cannot be changed from here: it is served read-only"
                           + ("" if self.access.read_only else " to you") + ".")
        return user

    def library_outputs(self) -> tuple[str, Any]:
        docs = self.qa.documents()
        choices = [(f"{d.title[:70]} ({d.doc_id})", d.doc_id) for d in docs]
        return library_html(docs, self.qa.chunk_count), gr.update(choices=choices, value=None)

    def trash_choices(self) -> Any:
        try:
            pending = self.qa.trash().pending() if self.qa.corpus_dir is not None else []
        except RagError:
            pending = []
        choices = [(f"{e.title[:60]} ({e.doc_id}, deleted {e.time[:16].replace('T', ' ')})", e.entry_id)
                   for e in reversed(pending)]
        return gr.update(choices=choices, value=None)

    def admin_view(self, request: gr.Request) -> tuple[Any, ...]:
        """On page load: the library, and the controls for those who may change it."""
        if not self.access.may_change(_user(request)):  # the hidden controls get no article or trash list
            return (self.library_outputs()[0], gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                    changes_html(self.qa.changes(10)), gr.update(visible=False))
        return (*self.library_outputs(), self.trash_choices(), changes_html(self.qa.changes(10)),
                gr.update(visible=True))

    def reader_view(self) -> tuple[Any, ...]:
        """On page load of a read-only page: the library and its changes."""
        return self.library_outputs()[0], changes_html(self.qa.changes(10))

    def source_choices(self) -> Any:
        return gr.update(choices=sorted({d.source for d in self.qa.documents() if d.source}, key=str.casefold))

    def respond(self, question: str, history: list[dict[str, Any]], refs: list[Ref | None],
                turns: list[Turn] | None, top_k: float, threshold: float, since: str = "", until: str = "",
                sources: list[str] | None = None) -> tuple[Any, ...]:
        """Ask ``question`` as the next turn of the conversation (``turns``: the earlier ones)."""
        question = (question or "").strip()
        if not question:
            gr.Warning("Type a question first.")
            return (gr.skip(),) * 5
        turns = list(turns or [])
        try:
            where = doc_filter(since, until, sources)
            ans: Answer = self.qa.ask(question, top_k=passages_read(top_k),
                                      threshold=chosen_threshold(threshold, self.default_threshold), where=where,
                                      history=turns[-MAX_TURNS:])
        except ValueError as e:  # EmptyQuestion, or a filter day not written YYYY-MM-DD
            gr.Warning(str(e))
            return (gr.skip(),) * 5
        msgs = answer_messages(ans, self.lookup, unsure_share=self.qa.settings.unsure_share)
        history = [*history, {"role": "user", "content": question_html(ans.question, ans.resolved_question)}]
        history += [{"role": "assistant", "content": html} for html, _ in msgs]
        refs = [*refs, None, *(ref for _, ref in msgs)]
        return "", history, refs, [*turns, Turn.of(ans)][-MAX_TURNS:], passages_html(ans)

    def respond_example(self, history: list[dict[str, Any]], refs: list[Ref | None], turns: list[Turn] | None,
                        top_k: float, threshold: float, since: str, until: str, sources: list[str] | None,
                        evt: gr.SelectData) -> tuple[Any, ...]:
        text = evt.value.get("text", "") if isinstance(evt.value, dict) else str(evt.value or "")
        return self.respond(text, history, refs, turns, top_k, threshold, since, until, sources)

    def open_ref(self, ref: Ref | None) -> Any:
        if ref is None:
            return gr.skip()
        doc = self.lookup(ref.doc_id)
        if doc is None:
            gr.Warning("That article is no longer in the index.")
            return gr.skip()
        if ref.start == ref.end == 0:
            return article_html(doc)
        return article_html(doc, ref)

    def open_from_chat(self, refs: list[Ref | None], evt: gr.SelectData) -> Any:
        i = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        i = _int(i)
        return self.open_ref(refs[i] if i is not None and 0 <= i < len(refs) else None)

    def open_from_panel(self, evt: gr.SelectData) -> Any:
        return self.open_ref(ref_from_event(evt))

    def clear(self) -> tuple[Any, ...]:
        """A new conversation: no earlier turn to lean on."""
        return [], [], [], passages_html(None), article_html(None)

    def add_files(self, files: list[str] | None, request: gr.Request,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        user = self._may_change(request)
        if not files:
            return (gr.skip(),) * 5
        corpus = self.qa.corpus_dir
        if corpus is None:
            raise gr.Error("This index records no corpus folder, so uploads cannot be stored.")
        lines: list[str] = []
        stored: list[Path] = []
        for f in files:
            try:
                stored.append(store_upload(f, Path(f).name, corpus))
            except (UploadRejected, OSError) as e:
                lines.append(f"✗ {e}")
        if stored:
            progress(0.0, desc="indexing")
            report = self.qa.add(stored, progress=lambda frac, msg: progress(frac, desc=msg), user=user)
            lines += self._upload_lines(stored, Path(corpus).resolve(), report.skipped)
            lines.append(f"{report.documents} articles, {report.chunks} chunks ({report.seconds:.1f} s)")
        status = "".join(f"<div>{esc(line)}</div>" for line in lines)
        return (status, *self.library_outputs(), None, changes_html(self.qa.changes(10)))

    def _upload_lines(self, stored: list[Path], corpus: Path, skipped: list[str]) -> list[str]:
        """One status line per stored upload; a file that was not indexed is removed again."""
        docs = self.qa.documents()
        indexed = {d.path for d in docs} | {a for d in docs for a in d.aliases}
        lines = []
        for path in stored:
            rel = path.relative_to(corpus).as_posix()
            if rel in indexed:
                ids = [d.doc_id for d in docs if d.path == rel]
                what = f"indexed as {', '.join(ids)}" if ids else "same text as an indexed article"
                lines.append(f"✓ {rel}: {what}")
            else:
                why = "; ".join(s.split(": ", 1)[-1] for s in skipped if s.startswith(rel)) or "unreadable"
                path.unlink(missing_ok=True)
                lines.append(f"✗ {rel}: not indexed ({why}); removed")
        return lines

    def ask_delete(self, doc_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete, step one: name the article and ask to confirm (nothing changes yet)."""
        self._may_change(request)
        if not doc_id:
            gr.Warning("Choose an article to delete.")
            return gr.skip(), gr.skip()
        try:
            title = self.qa.document(doc_id).title
        except KeyError:
            gr.Warning(f"No article {doc_id!r} in the index.")
            return gr.skip(), gr.skip()
        text = (f"<div>Delete <b>{esc(title)}</b> (<code>{esc(doc_id)}</code>)? It leaves the index and its "
                "file moves to the corpus folder's trash, from where it can be restored.</div>")
        return gr.update(visible=True), text

    def cancel_delete(self) -> Any:
        return gr.update(visible=False)

    def delete_doc(self, doc_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Delete, step two (confirmed): to the trash, with an Undo button."""
        user = self._may_change(request)
        hide = gr.update(visible=False)
        if not doc_id:
            gr.Warning("Choose an article to delete.")
            return (hide, *(gr.skip(),) * 7)
        try:
            title = self.qa.document(doc_id).title
            entry = self.qa.delete(doc_id, user=user)
        except KeyError:
            gr.Warning(f"No article {doc_id!r} in the index.")
            return (hide, gr.skip(), *self.library_outputs(), *(gr.skip(),) * 4)
        if entry is None:
            status = f"<div>Deleted {esc(title)} ({esc(doc_id)}) from the index (it has no corpus folder).</div>"
            return (hide, status, *self.library_outputs(), hide, None, self.trash_choices(),
                    changes_html(self.qa.changes(10)))
        status = (f"<div>Deleted {esc(title)} ({esc(doc_id)}). Its file is in the corpus folder's trash "
                  f"(<code>rag trash restore {esc(entry.entry_id)}</code>); Undo puts it back.</div>")
        return (hide, status, *self.library_outputs(), gr.update(visible=True), entry.entry_id,
                self.trash_choices(), changes_html(self.qa.changes(10)))

    def restore_entry(self, entry_id: str | None, request: gr.Request) -> tuple[Any, ...]:
        """Undo a delete (the last one, or any entry chosen from the trash): the article is back."""
        user = self._may_change(request)
        if not entry_id:
            gr.Warning("Choose an article in the trash.")
            return (gr.skip(),) * 7
        try:
            entry: TrashEntry = self.qa.trash().find(entry_id)
            self.qa.restore(entry_id, user=user)
        except RagError as e:
            gr.Warning(str(e))
            return (gr.skip(), *self.library_outputs(), gr.update(visible=False), None, self.trash_choices(),
                    gr.skip())
        status = f"<div>Restored {esc(entry.title)} ({esc(entry.doc_id)}).</div>"
        return (status, *self.library_outputs(), gr.update(visible=False), None, self.trash_choices(),
                changes_html(self.qa.changes(10)))

    def ask_api(self, question: str, top_k: int | None = None) -> dict[str, Any]:
        """Answer a question from the indexed articles.

        Returns the Answer as JSON: ``text`` (None when the articles do not answer), ``score`` (ranking
        score), ``confidence`` (calibrated chance of being exactly right, or None), ``citations`` (doc_id,
        title, quote and document offsets), ``passages``, ``answerer``. ``top_k``: passages read (default:
        the reader's own).
        """
        try:
            ans = self.qa.ask(question, top_k=passages_read(top_k))
        except ValueError as e:
            raise gr.Error(str(e)) from None
        return ans.model_dump(mode="json")


@dataclass
class Widgets:
    """The page's components that events read or write (library controls: None when read-only)."""

    refs: Any
    turns: Any
    chatbot: Any
    question: Any
    ask_btn: Any
    library: Any
    changes: Any
    top_k: Any
    threshold: Any
    since: Any
    until: Any
    sources: Any
    passages: Any
    article: Any
    admin: AdminWidgets | None


@dataclass
class AdminWidgets:
    """The controls that change the library."""

    box: Any
    upload: Any
    to_delete: Any
    delete_btn: Any
    confirm_box: Any
    confirm_text: Any
    confirm_btn: Any
    cancel_btn: Any
    status: Any
    undo_btn: Any
    last_entry: Any
    trash_choice: Any
    restore_btn: Any


def _chat_tab(examples: list[str]) -> tuple[Any, Any, Any]:
    chatbot = gr.Chatbot(
        elem_id="rag-chat", height=CHAT_HEIGHT, min_height=320, render_markdown=False, sanitize_html=True,
        latex_delimiters=[], feedback_options=None, buttons=["copy"],
        examples=[{"text": q} for q in examples],
        placeholder="<strong>Ask a question about the articles</strong>, or pick an example.",
        label="Chat", show_label=False,  # a label box would sit over the first message
    )
    with gr.Row():
        question = gr.Textbox(placeholder="Ask a question about the articles…", show_label=False, scale=5,
                              max_lines=4, elem_id="rag-question", max_length=4000)
        ask_btn = gr.Button("Ask", variant="primary", scale=1, elem_id="rag-ask")
    return chatbot, question, ask_btn


def _admin_controls() -> AdminWidgets:
    """Upload; delete with a confirmation, then Undo; restore anything still in the trash."""
    with gr.Column(visible=False, elem_id="rag-admin") as box:
        with gr.Row():
            upload = gr.File(label=f"Upload articles ({' '.join(ALLOWED_SUFFIXES)}; ≤ {MAX_UPLOAD_BYTES // 2**20} "
                             "MB each)", file_count="multiple", file_types=list(ALLOWED_SUFFIXES),
                             elem_id="rag-upload", scale=3)
            with gr.Column(scale=2):
                to_delete = gr.Dropdown(label="Delete an article", choices=[], value=None,
                                        elem_id="rag-delete-choice")
                delete_btn = gr.Button("Delete…", variant="stop", elem_id="rag-delete")
        with gr.Column(visible=False, elem_id="rag-confirm", variant="panel") as confirm_box:
            confirm_text = gr.HTML()
            with gr.Row():
                confirm_btn = gr.Button("Move to trash", variant="stop", elem_id="rag-confirm-delete")
                cancel_btn = gr.Button("Cancel", elem_id="rag-cancel-delete")
        status = gr.HTML(elem_id="rag-status")
        undo_btn = gr.Button("Undo", visible=False, elem_id="rag-undo")
        last_entry = gr.State(None)
        with gr.Row():
            trash_choice = gr.Dropdown(label="In the trash", choices=[], value=None, elem_id="rag-trash-choice",
                                       scale=3)
            restore_btn = gr.Button("Restore", elem_id="rag-restore", scale=1)
    return AdminWidgets(box, upload, to_delete, delete_btn, confirm_box, confirm_text, confirm_btn, cancel_btn,
                        status, undo_btn, last_entry, trash_choice, restore_btn)


def _library_tab(default_threshold: float, default_top_k: int, read_only: bool) -> tuple[Any, ...]:
    library = gr.HTML(elem_id="rag-library", js_on_load=CLICK_JS)
    admin = None if read_only else _admin_controls()
    gr.Markdown("### Recent changes")
    changes = gr.HTML(elem_id="rag-changes")
    gr.Markdown("### Settings")
    with gr.Row():
        top_k = gr.Slider(1, MAX_TOP_K, value=default_top_k, step=1, label="Passages (top-k)", elem_id="rag-topk")
        threshold = gr.Slider(0.0, 1.0, value=default_threshold, step=0.001,
                              label="Answer threshold (abstain below)", elem_id="rag-threshold",
                              info="Left where it is: the reader's own rule. Moved: answer when the best "
                                   "span's score reaches it (0: always answer).")
    with gr.Row():
        since = gr.Textbox(label="Published from (YYYY-MM-DD)", placeholder="any day", elem_id="rag-since",
                           max_length=10)
        until = gr.Textbox(label="Published until (YYYY-MM-DD)", placeholder="any day", elem_id="rag-until",
                           max_length=10)
        sources = gr.Dropdown(label="Sources", choices=[], value=[], multiselect=True, elem_id="rag-sources")
    return library, admin, changes, top_k, threshold, (since, until, sources)


def _layout(title: str, examples: list[str], default_threshold: float, default_top_k: int, read_only: bool) -> Widgets:
    gr.HTML(f"<h1 style='margin:0'>{esc(title)}</h1><div class='rag-hint'>Ask about the indexed news articles: "
            "every answer is a verbatim quote from one of them, or an honest “the articles do not answer "
            "this”.</div>")
    refs = gr.State([])
    turns = gr.State([])  # the conversation so far (rag.Turn), for follow-up questions
    with gr.Row(equal_height=False):
        with gr.Column(scale=3), gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                chatbot, question, ask_btn = _chat_tab(examples)
            with gr.Tab("Library", id="library"):
                library, admin, changes, top_k, threshold, filters = _library_tab(default_threshold, default_top_k,
                                                                                     read_only)
        with gr.Column(scale=2):
            gr.Markdown("#### Retrieved passages")
            passages = gr.HTML(passages_html(None), elem_id="rag-passages", js_on_load=CLICK_JS)
            gr.Markdown("#### Article")
            article = gr.HTML(article_html(None), elem_id="rag-article", js_on_load=ARTICLE_JS)
    since, until, sources = filters
    return Widgets(refs, turns, chatbot, question, ask_btn, library, changes, top_k, threshold, since, until, sources,
                   passages, article, admin)


def _wire(demo: gr.Blocks, w: Widgets, h: Handlers) -> None:
    private: dict[str, Any] = {"api_visibility": "private"}
    ask_inputs = [w.question, w.chatbot, w.refs, w.turns, w.top_k, w.threshold, w.since, w.until, w.sources]
    ask_outputs = [w.question, w.chatbot, w.refs, w.turns, w.passages]
    ask_opts: dict[str, Any] = {"concurrency_id": "ask", "concurrency_limit": ASK_CONCURRENCY, **private}
    w.question.submit(h.respond, ask_inputs, ask_outputs, **ask_opts).then(None, js=FOCUS_QUESTION_JS, **private)
    w.ask_btn.click(h.respond, ask_inputs, ask_outputs, **ask_opts).then(None, js=FOCUS_QUESTION_JS, **private)
    w.chatbot.example_select(h.respond_example, ask_inputs[1:], ask_outputs, **ask_opts)
    w.chatbot.select(h.open_from_chat, [w.refs], [w.article], **private)
    w.passages.select(h.open_from_panel, None, [w.article], **private)
    w.library.select(h.open_from_panel, None, [w.article], **private)
    w.chatbot.clear(h.clear, None, [w.chatbot, w.refs, w.turns, w.passages, w.article], **private)
    demo.load(h.source_choices, None, [w.sources], **private)
    if w.admin is None:  # read-only: no event that changes the library exists at all
        demo.load(h.reader_view, None, [w.library, w.changes], **private)
    else:
        _wire_admin(demo, w, w.admin, h, private)
    gr.api(h.ask_api, api_name="ask", concurrency_id="ask", concurrency_limit=ASK_CONCURRENCY)


def _wire_admin(demo: gr.Blocks, w: Widgets, a: AdminWidgets, h: Handlers, private: dict[str, Any]) -> None:
    lib_opts: dict[str, Any] = {"concurrency_id": "library", "concurrency_limit": 1, **private}
    listing = [w.library, a.to_delete]
    after_change = [*listing, a.undo_btn, a.last_entry, a.trash_choice, w.changes]
    a.upload.upload(h.add_files, [a.upload], [a.status, *listing, a.upload, w.changes], **lib_opts)
    a.delete_btn.click(h.ask_delete, [a.to_delete], [a.confirm_box, a.confirm_text], **private)
    a.cancel_btn.click(h.cancel_delete, None, [a.confirm_box], **private)
    a.confirm_btn.click(h.delete_doc, [a.to_delete], [a.confirm_box, a.status, *after_change], **lib_opts)
    a.undo_btn.click(h.restore_entry, [a.last_entry], [a.status, *after_change], **lib_opts)
    a.restore_btn.click(h.restore_entry, [a.trash_choice], [a.status, *after_change], **lib_opts)
    demo.load(h.admin_view, None, [*listing, a.trash_choice, w.changes, a.box], **private)


def create_app(qa: Assistant, examples: list[str] | None = None, title: str = "News QA",
               access: Access | None = None) -> gr.Blocks:
    """The chat, library and article views over ``qa``, plus the ``/ask`` API endpoint. ``access``
    says who may change the library from the page (default: whoever can open it)."""
    handlers = Handlers(qa, access)
    with gr.Blocks(title=title, analytics_enabled=False) as demo:
        widgets = _layout(title, EXAMPLES if examples is None else examples, handlers.default_threshold,
                          handlers.default_top_k, handlers.access.read_only)
        _wire(demo, widgets, handlers)
    demo.queue(default_concurrency_limit=ASK_CONCURRENCY, max_size=MAX_QUEUE)
    return demo


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """``"user:password"`` as a pair (None when not given); ``ValueError`` when malformed."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("authentication must be given as user:password")
    return user, password


def parse_users(values: Sequence[str] | str | None) -> list[tuple[str, str]]:
    """Every ``user:password`` given (a list, or one string of them separated by white space, as in
    ``RAG_AUTH``); ``ValueError`` when one is malformed or a user is named twice."""
    items = values.split() if isinstance(values, str) else [v for v in values or [] if v]
    users = [pair for pair in (parse_auth(v) for v in items) if pair is not None]
    names = [u for u, _ in users]
    if len(set(names)) != len(names):
        raise ValueError("a user is named twice in the authentication")
    return users


def access_for(users: list[tuple[str, str]], read_only: bool, admins: Sequence[str] | None) -> Access:
    """The page's ``Access``: ``admins`` must be users the server authenticates."""
    if admins:
        if not users:
            raise ValueError("--admin needs --auth: without logins nobody can be told apart")
        unknown = sorted(set(admins) - {u for u, _ in users})
        if unknown:
            raise ValueError(f"--admin names users without a login: {', '.join(unknown)}")
    return Access(read_only=read_only, admins=frozenset(admins) if admins else None)


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860,
           auth: tuple[str, str] | list[tuple[str, str]] | None = None, block: bool = True) -> str:
    """Start ``app`` on ``host:port`` (offline settings, upload limit); return its local URL."""
    _, url, _ = app.launch(
        server_name=host, server_port=port, auth=auth, share=False, inbrowser=False, quiet=not block,
        prevent_thread_lock=not block, max_file_size=MAX_UPLOAD_BYTES, footer_links=["api", "settings"],
        ssr_mode=False, mcp_server=False, enable_monitoring=False, run_history=False, show_error=True,
        theme=THEME, css=CSS, head=HEAD,
    )
    return str(url)


def _print_progress(fraction: float, message: str) -> None:
    print(f"indexing [{fraction:4.0%}] {message}", file=sys.stderr, flush=True)


def open_or_build(index_dir: str | Path, corpus: str | Path, reader: str | None = "default") -> Assistant:
    """Open the index at ``index_dir``, or build it from ``corpus`` first (progress on stderr)."""
    try:
        return Assistant.open(index_dir, reader=reader)
    except FileNotFoundError:
        pass
    if not Path(corpus).is_dir():
        raise SystemExit(f"error: no index at {index_dir} and no corpus folder {corpus} to build one from")
    print(f"no index at {index_dir}: building it from {corpus}", file=sys.stderr, flush=True)
    qa = Assistant.build(corpus, index_dir=index_dir, reader=reader, progress=_print_progress)
    report = qa.last_report
    if report is not None:
        for issue in report.skipped:
            print(f"warning: skipped {issue}", file=sys.stderr)
        print(f"indexed {report.documents} articles, {report.chunks} chunks in {report.seconds:.1f} s",
              file=sys.stderr, flush=True)
    return qa


def serve(index_dir: str | Path = "index", corpus: str | Path = "seeds", host: str = "127.0.0.1",
          port: int = 7860, auth: Sequence[str] | str | None = None, reader: str | None = "default",
          read_only: bool = False, admins: Sequence[str] | None = None) -> None:
    """Open (or first build) the index and serve the chat until interrupted. ``read_only``: questions
    only; ``admins``: the users (of ``auth``) who may upload, delete and restore."""
    try:
        users = parse_users(auth)
        access = access_for(users, read_only, admins)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if host not in {"127.0.0.1", "localhost", "::1"} and not users:
        print(f"warning: serving on {host} without authentication (use --auth user:password or RAG_AUTH)",
              file=sys.stderr)
    qa = open_or_build(index_dir, corpus, reader)
    app = create_app(qa, access=access)
    launch(app, host=host, port=port, auth=users or None, block=True)
