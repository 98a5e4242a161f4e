"""HTML for the web chat, built by hand: every piece of article or question text goes through ``esc``.

Nothing here trusts its input: titles, quotes, passages, questions and ids are escaped, and highlights
are made by slicing the document text at the citation offsets and escaping each slice.  The markup we
add ourselves is limited to a handful of tags with ``class`` and ``data-*`` attributes, so it survives
Gradio's HTML sanitiser unchanged.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag import Answer, Change, Citation, Document, Passage

DocLookup = Callable[[str], Document | None]

EXCERPT_CHARS = 320


def esc(text: object) -> str:
    """``text`` as HTML text: ``< > & " '`` escaped, so it shows literally and never runs."""
    return html.escape(str(text), quote=True)


@dataclass(frozen=True)
class Ref:
    """What a click opens: a document and the ranges to highlight in it (document offsets)."""

    doc_id: str
    start: int
    end: int
    answer_start: int | None = None
    answer_end: int | None = None

    @classmethod
    def of(cls, citation: Citation) -> Ref:
        """What clicking a citation opens: its quote, the answer marked."""
        return cls(citation.doc_id, citation.quote_start, citation.quote_end, citation.answer_start,
                   citation.answer_end)

    def attrs(self) -> str:
        """``data-*`` attributes that the click handler sends back to the server."""
        a = "" if self.answer_start is None else str(self.answer_start)
        b = "" if self.answer_end is None else str(self.answer_end)
        return (f'data-doc="{esc(self.doc_id)}" data-start="{self.start}" data-end="{self.end}" '
                f'data-astart="{a}" data-aend="{b}"')


def confidence(probability: float) -> tuple[str, str]:
    """A word and a CSS class for a calibrated probability of being right (``Answer.confidence``)."""
    if probability >= 0.7:
        return "high", "rag-conf-high"
    if probability >= 0.45:
        return "medium", "rag-conf-medium"
    return "low", "rag-conf-low"


def answer_strength(ans: Answer) -> str:
    """What is shown beside an answer: its calibrated confidence (the estimated chance that it is exactly
    right) when the answerer has a calibration, else its ranking score, which is not called confidence."""
    if ans.confidence is None:
        return f'<span class="rag-conf">score {ans.score:.2f}</span>'
    word, cls = confidence(ans.confidence)
    return (f'<span class="rag-conf {cls}" title="estimated chance that this answer is exactly right">'
            f'confidence {ans.confidence:.0%} ({word})</span>')


def _clamp(value: int | None, lo: int, hi: int) -> int | None:
    return None if value is None else max(lo, min(hi, value))


def highlight(text: str, start: int, end: int, mark_start: int | None = None, mark_end: int | None = None,
              offset: int = 0) -> str:
    """``text[start:end]`` escaped, with ``[mark_start, mark_end)`` (absolute offsets) inside ``<mark>``.

    ``offset`` is the document offset of ``text[0]`` (0 when ``text`` is the whole document).
    """
    lo, hi = start - offset, end - offset
    lo = max(0, min(len(text), lo))
    hi = max(lo, min(len(text), hi))
    ms, me = _clamp(None if mark_start is None else mark_start - offset, lo, hi), _clamp(
        None if mark_end is None else mark_end - offset, lo, hi)
    if ms is None or me is None or me <= ms:
        return esc(text[lo:hi])
    return f"{esc(text[lo:ms])}<mark>{esc(text[ms:me])}</mark>{esc(text[me:hi])}"


def quote_html(citation: Citation, doc: Document | None) -> str:
    """The citation's quote with the answer in ``<mark>`` (from the document text when we have it)."""
    if doc is not None and 0 <= citation.quote_start < citation.quote_end <= len(doc.text):
        return highlight(doc.text, citation.quote_start, citation.quote_end, citation.answer_start,
                         citation.answer_end)
    # the document went away (deleted meanwhile): the quote alone, offsets relative to it
    return highlight(citation.quote, citation.quote_start, citation.quote_end, citation.answer_start,
                     citation.answer_end, offset=citation.quote_start)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` shortened to about ``limit`` characters on a word boundary (not escaped)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def question_html(question: str, resolved: str | None = None) -> str:
    """The user's question as chat HTML, and in small type how it was read when it was a follow-up."""
    html_ = f'<div class="rag-question">{esc(question)}</div>'
    if resolved is not None:
        how = ("read with the previous question" if resolved == question
               else f"read as: {esc(resolved)}")
        html_ += f'<div class="rag-resolved">{how}</div>'
    return html_


def unsure_hint(share: float | None) -> str:
    """How often a "not sure" list held the answer on the tuning questions, in words."""
    if share is None:
        return ""
    tenths = max(1, min(9, round(share * 10)))
    return f" On our tuning questions, about {tenths} in 10 such lists held the answer."


def answer_messages(ans: Answer, lookup: DocLookup, closest: int = 3,
                    unsure_share: float | None = None) -> list[tuple[str, Ref | None]]:
    """The assistant's chat messages for ``ans``, each with what clicking it opens (or None);
    ``unsure_share`` is the answerer's measured share of "not sure" lists that held the answer."""
    if ans.notice:
        notice = f'<div class="rag-notice">Note: {esc(ans.notice)}</div>'
    else:
        notice = ""
    out: list[tuple[str, Ref | None]] = []
    if ans.status == "unsure" and ans.candidates:
        out.append((
            '<div class="rag-unsure"><strong>Not sure.</strong> No answer met the bar; these came closest, each '
            f'in its sentence (click one to open its article).{esc(unsure_hint(unsure_share))}</div>' + notice,
            None,
        ))
        for n, cand in enumerate(ans.candidates, 1):
            out.append((
                f'<div class="rag-candidate"><div><span class="rag-label">Candidate {n}</span> '
                f'<strong class="rag-short">{esc(cand.text)}</strong> '
                f'<span class="rag-conf rag-conf-low">score {cand.score:.2f}</span></div>'
                f'{_quoted(cand.citation, lookup)}</div>',
                Ref.of(cand.citation),
            ))
        return out
    if ans.text is None:
        head = ('<div class="rag-abstain"><strong>The articles do not answer this.</strong> '
                f'<span class="rag-conf rag-conf-low">best score {ans.score:.2f}</span></div>{notice}')
        if ans.passages:
            head += '<div class="rag-hint">The closest passages (click one to open its article):</div>'
        out.append((head, None))
        for p in ans.passages[:closest]:
            out.append((_passage_card(p), Ref(p.doc_id, p.start, p.end)))
        return out

    by = "span reader" if ans.answerer == "reader" else "best sentence" if ans.answerer == "sentence" else ""
    out.append((
        f'<div class="rag-answer"><span class="rag-label">Answer</span> '
        f'<strong class="rag-short">{esc(ans.text)}</strong></div>'
        f'<div class="rag-meta">{answer_strength(ans)}'
        + (f' <span class="rag-by">by the {by}</span>' if by else "")
        + f"</div>{notice}",
        None,
    ))
    for c in ans.citations:
        out.append((
            f'<div class="rag-cite">{_quoted(c, lookup)}'
            '<div class="rag-hint">Click to open the whole article</div></div>',
            Ref.of(c),
        ))
    return out


def _quoted(c: Citation, lookup: DocLookup) -> str:
    """A citation's article title and id, and its quote with the answer marked."""
    return (f'<div class="rag-title">{esc(c.title)} <span class="rag-docid">{esc(c.doc_id)}</span></div>'
            f'<blockquote class="rag-quote">{quote_html(c, lookup(c.doc_id))}</blockquote>')


def _passage_card(p: Passage, cited: bool = False) -> str:
    scores = f"score {p.score:.3f}"
    if p.dense_score is not None:
        scores += f" · cosine {p.dense_score:.2f}"
    if p.lexical_score is not None:
        scores += f" · BM25 {p.lexical_score:.1f}"
    if p.evidence is not None:  # the second stage ordered the passages by score and this
        scores += f" · reader {p.evidence:+.1f}"
    badge = ' <span class="rag-badge">cited</span>' if cited else ""
    return (f'<div class="rag-passage-card"><div class="rag-title">{esc(p.title)} '
            f'<span class="rag-docid">{esc(p.doc_id)}</span>{badge}</div>'
            f'<div class="rag-scores">#{p.rank + 1} · {scores}</div>'
            f'<div class="rag-excerpt">{esc(excerpt(p.text))}</div></div>')


def passages_html(ans: Answer | None) -> str:
    """The side panel: every retrieved passage with its scores, clickable."""
    if ans is None:
        return '<div class="rag-empty">Ask a question: the passages it retrieved show here with their scores.</div>'
    if not ans.passages:
        return '<div class="rag-empty">No passage retrieved.</div>'
    cited = {c.chunk_id for c in ans.citations if c.chunk_id is not None}
    cited_docs = {c.doc_id for c in ans.citations}
    rows = []
    for p in ans.passages:
        is_cited = p.chunk_id in cited or (not cited and p.doc_id in cited_docs)
        ref = Ref(p.doc_id, p.start, p.end)
        rows.append(f'<div class="rag-passage rag-clickable" {ref.attrs()}>{_passage_card(p, is_cited)}</div>')
    return (f'<div class="rag-panel-head">Retrieved for: <em>{esc(excerpt(ans.question, 120))}</em></div>'
            f'<div class="rag-scroll">{"".join(rows)}</div>')


def article_html(doc: Document | None, ref: Ref | None = None) -> str:
    """The whole article, the referenced range wrapped in ``.rag-hl`` and the answer in ``<mark>``."""
    if doc is None:
        return '<div class="rag-empty">Click a citation, a passage or a library row to read the whole article.</div>'
    meta = [esc(doc.doc_id)]
    for value in (doc.date, doc.place, doc.source, doc.url):
        if value:
            meta.append(esc(value))
    text = doc.text
    if ref is None:
        body = esc(text)
    else:
        s = max(0, min(len(text), ref.start))
        e = max(s, min(len(text), ref.end))
        body = (f'{esc(text[:s])}<span class="rag-hl">'
                f'{highlight(text, s, e, ref.answer_start, ref.answer_end)}</span>{esc(text[e:])}')
    return (f'<div class="rag-article"><h3 class="rag-article-title">{esc(doc.title)}</h3>'
            f'<div class="rag-article-meta">{" · ".join(meta)}</div>'
            f'<div class="rag-article-text">{body}</div></div>')


def library_html(docs: Sequence[Document], chunks: Callable[[str], int]) -> str:
    """The indexed articles as a table (title, id, date, source, chunks); a row click opens the article."""
    if not docs:
        return '<div class="rag-empty">The index holds no article.</div>'
    rows = "".join(
        f'<tr class="rag-clickable" {Ref(d.doc_id, 0, 0).attrs()}><td>{esc(d.title)}</td>'
        f'<td><code>{esc(d.doc_id)}</code></td><td>{esc(d.date or "")}</td><td>{esc(d.source or "")}</td>'
        f'<td>{chunks(d.doc_id)}</td></tr>'
        for d in docs
    )
    return ('<table class="rag-library"><thead><tr><th>Title</th><th>Id</th><th>Date</th><th>Source</th>'
            '<th>Chunks</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>'
            f'<div class="rag-hint">{len(docs)} articles · click a row to read it</div>')


def changes_html(changes: Sequence[Change]) -> str:
    """The library's latest changes, newest first: when, who, what, which article and file."""
    if not changes:
        return '<div class="rag-empty">No change recorded yet.</div>'
    rows = "".join(
        f"<tr><td>{esc(c.time.replace('T', ' ').replace('+00:00', ' UTC'))}</td><td>{esc(c.user or '')}</td>"
        f"<td>{esc(c.action)}{esc(f' ({c.detail})' if c.detail else '')}</td>"
        f"<td><code>{esc(c.doc_id or '')}</code></td><td>{esc(c.path or '')}</td></tr>"
        for c in changes
    )
    return ('<table class="rag-library rag-changes"><thead><tr><th>When</th><th>Who</th><th>What</th>'
            f"<th>Article</th><th>File</th></tr></thead><tbody>{rows}</tbody></table>")
