"""Saved web pages -> main text and metadata: the encoding read as a browser reads it, then trafilatura.

A saved news page holds menus, cookie banners, comment threads, "related articles" lists and footers
besides the article. ``extract_page`` keeps the main text only (trafilatura, comments left out) and the
page's own metadata: title, author, publication date (htmldate), site name, canonical URL and language.
The stored text of an HTML article is this extracted text, and every offset refers to it.

``decode_html`` follows the order browsers use (WHATWG encoding sniffing, simplified): a byte-order
mark, then a ``<meta charset>`` or ``<meta http-equiv="Content-Type">`` declaration in the first 4 KB
(``iso-8859-1``/``latin1``/``ascii`` meaning windows-1252, as browsers take them), then UTF-8 if the
bytes are valid UTF-8, then detection (charset-normalizer).
"""

from __future__ import annotations

import codecs
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTML_LANG = re.compile(r"""<html[^>]*\slang\s*=\s*["']?([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?""", re.IGNORECASE)
# Labels browsers decode as windows-1252 (WHATWG Encoding Standard).
_AS_CP1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "cp819", "ibm819",
              "iso_8859-1", "windows-1252", "cp1252", "x-cp1252"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def declared_encoding(raw: bytes) -> str | None:
    """The Python codec for the encoding a page declares in its first 4 KB, if it names a known one."""
    m = _META_CHARSET.search(raw[:4096])
    if not m:
        return None
    label = m.group(1).decode("ascii", "replace").strip().lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(raw: bytes) -> str:
    """The page's text, decoded as a browser would (see the module docstring); ``ValueError`` for bytes
    that are no text at all."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    nuls = raw.count(b"\x00")
    # A page may carry a stray NUL deep inside (browsers show nothing for it); a binary file has them in
    # its first bytes or throughout.
    if b"\x00" in raw[:1024] or nuls > len(raw) // 100:
        raise ValueError("binary file (NUL bytes)")
    if nuls:
        raw = raw.replace(b"\x00", b"")
    declared = declared_encoding(raw)
    if declared is not None:
        try:
            return raw.decode(declared)
        except UnicodeDecodeError:
            pass  # the declaration is wrong: sniff, as below
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise ValueError("not text in any encoding detected")
    return str(best)


@dataclass(frozen=True)
class WebPage:
    """What a saved page holds: its main text and the metadata it declares."""

    text: str
    title: str | None = None
    author: str | None = None
    date: str | None = None  # publication date, ISO 8601 (YYYY-MM-DD)
    sitename: str | None = None
    url: str | None = None
    language: str | None = None


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


# Parts of a page a browser does not show: never article text.
_HIDDEN = ('//*[@hidden] | //*[@aria-hidden="true"]'
           ' | //*[contains(translate(@style, " ", ""), "display:none")]'
           ' | //*[contains(translate(@style, " ", ""), "visibility:hidden")]')


def _visible_tree(html: str) -> Any:
    """The page parsed (lxml), less the elements a browser hides; None when it does not parse."""
    import lxml.etree
    import lxml.html

    try:
        parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
        tree = lxml.html.document_fromstring(html.encode("utf-8", errors="replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None
    for el in tree.xpath(_HIDDEN):
        if el.getparent() is not None:
            el.drop_tree()
    return tree


_TITLE_SEPARATORS = re.compile(r"\s+(?:\||-|–|—|::|·|»)\s+")


def _site_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.casefold().removeprefix("www."))


def _site_keys(sitename: str | None, hostname: str | None) -> set[str]:
    """The keys the site goes by: its name and host (3 characters or more) and the host less its suffix."""
    names = {k for k in (_site_key(sitename or ""), _site_key(hostname or "")) if len(k) >= 3}
    return names | {_site_key((hostname or "").rsplit(".", 1)[0])} - {""}


def strip_site_name(title: str | None, sitename: str | None, hostname: str | None) -> str | None:
    """``title`` less a leading or trailing part that only names the site ("Headline | The Daily Planet",
    "Daily Planet - Headline"): the site is recorded as the source, not as the article's title."""
    if not title:
        return title
    parts = _TITLE_SEPARATORS.split(title)
    if len(parts) < 2:
        return title
    names = _site_keys(sitename, hostname)

    def is_site(part: str) -> bool:
        key = _site_key(part)
        return bool(key) and any(key == n or (len(key) >= 4 and (key in n or n in key)) for n in names)

    while len(parts) > 1 and is_site(parts[-1]):
        parts.pop()
    while len(parts) > 1 and is_site(parts[0]):
        parts.pop(0)
    kept = " ".join(parts) if len(parts) == 1 else title[title.find(parts[0]):title.rfind(parts[-1]) + len(parts[-1])]
    return kept.strip() or title


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def _key(text: str | None) -> str:
    """``text`` for comparing titles: NFKC, no soft hyphens or quotation marks, one kind of dash, case
    and white space folded."""
    text = unicodedata.normalize("NFKC", text or "").replace("\xad", "")
    text = re.sub(r"[\"'„“”‚‘’«»]", "", text)
    return " ".join(re.sub(r"[–—-]", "-", text).split()).casefold()


def _text(el: Any) -> str:
    return " ".join(el.text_content().split())


_ARCHIVED = re.compile(r"^https?://web\.archive\.org/web/[^/]+/(.+)$")
_TITLE_PARTS = re.compile(r"\s*:\s+|\s+(?:\||-|–|—|::|·|»|«)\s+")
HEADLINE_MIN_WORDS = 6  # an <h1> this long is the headline even when the metadata words it otherwise


def _is_logo(h1: Any, site_keys: set[str]) -> bool:
    """Whether an ``<h1>`` is the site's name or logo (all of it a link to the home page), not a headline."""
    text = _text(h1)
    links = h1.xpath(".//a")
    if links and sum(len(_text(a)) for a in links) >= 0.9 * len(text):
        href = links[0].get("href") or ""
        if m := _ARCHIVED.match(href):  # a page saved from the Internet Archive links through it
            href = m.group(1)
        if urlparse(href).path.strip("/") in ("", "index.html", "index.php"):
            return True
    return _site_key(text) in site_keys


def _without_kicker(h1: Any, title: str) -> str:
    """The ``<h1>``'s text less the one child element (a kicker, a section label, a byline) whose removal
    leaves ``title``; ``title`` itself when no single child does."""
    kids = [c for c in h1 if isinstance(c.tag, str)]
    for drop in kids:
        parts = [h1.text or ""]
        for c in kids:
            parts += [c.text_content() if c is not drop else "", c.tail or ""]
        text = " ".join(" ".join(parts).split())
        if _key(text) == _key(title):
            return text
    return title


def headline(tree: Any, title: str | None, sitename: str | None = None, hostname: str | None = None) -> str | None:
    """The article's title, from the metadata's ``title`` (trafilatura's) and the page itself:

    1. The metadata title less the site's name (``strip_site_name``; a site name equal to the whole
       title is no site name).
    2. The first ``<h1>`` that is not the site's logo or name: when it holds the metadata title and more
       (a kicker, a section label: "Tunesien Große Aufgaben ..."), the ``<h1>`` less that part; when it
       shares at least half its words with the metadata title, or has at least ``HEADLINE_MIN_WORDS``
       words, the ``<h1>``.
    3. Without such an ``<h1>``: when the metadata title is the site's name or logo, or does not occur
       in the page's ``<title>`` at all, the longest part of ``<title>`` that does not name the site.

    Chosen on the tuning half of html-eval-a's pages (``bench.bench_html.half_of``; docs/benchmarks.md f).
    """
    if sitename and title and _key(sitename) == _key(title):
        sitename = None
    stripped = strip_site_name(title, sitename, hostname)
    key = _key(stripped)
    ref = _words(stripped or "") | _words(title or "")  # the metadata's words, with and without the site
    site_keys = {k for k in _site_keys(sitename, hostname) if len(k) >= 3}
    logos = set()
    for h1 in tree.xpath("//h1"):
        text = _text(h1)
        words = _words(text)
        if not words or len(text) > 250:
            continue
        if _is_logo(h1, site_keys):
            logos.add(_key(text))
            continue
        if stripped and key in _key(text) and key != _key(text) and len(_words(stripped)) >= 2:
            return _without_kicker(h1, stripped)
        if len(words & ref) >= len(words) / 2 or len(words) >= HEADLINE_MIN_WORDS:
            return text
    heads = tree.xpath("//title")
    page = _text(heads[0]) if heads else ""
    if stripped and page and (key in logos or _site_key(stripped) in site_keys or key not in _key(page)):
        parts = [p for p in _TITLE_PARTS.split(page)
                 if p and _key(p) not in logos | {key} and _site_key(p) not in site_keys]
        if parts:
            return max(parts, key=len)
    return stripped


def extract_page(html: str) -> WebPage | None:
    """The main text and metadata of a page (None when no main text is found)."""
    import trafilatura

    tree = _visible_tree(html)
    if tree is None:
        return None
    found = trafilatura.bare_extraction(tree, with_metadata=True, include_comments=False)
    doc: dict[str, Any] = found if isinstance(found, dict) else found.as_dict() if found is not None else {}
    text = (doc.get("text") or "").strip()
    if not text:
        return None
    lang = doc.get("language") or (m.group(1).lower() if (m := _HTML_LANG.search(html[:4096])) else None)
    title = headline(tree, _clean(doc.get("title")), _clean(doc.get("sitename")), _clean(doc.get("hostname")))
    return WebPage(text=text, title=title, author=_clean(doc.get("author")),
                   date=_clean(doc.get("date")), sitename=_clean(doc.get("sitename")), url=_clean(doc.get("url")),
                   language=lang)
