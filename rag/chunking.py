"""Chunking: a Document -> sentence spans -> Chunks that fit the embedding model's token limit.

Sentences are found by a rule set made for news text (abbreviations such as "U.S." and "Gen.",
initials, quotes closing a sentence, datelines); each is an exact ``(start, end)`` span of the text.
Chunks are runs of whole sentences, packed greedily up to ``max_tokens``, with ``overlap`` sentences
repeated between neighbours; a sentence too long for one chunk is cut at word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from rag.schema import Chunk, Document

TokenCounter = Callable[[str], int]

# Words that end with a period without ending a sentence (compared lower-case, without the period).
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof gen lt col maj capt cmdr adm sgt cpl pvt gov sen rep rev hon pres supt insp det
    st jr sr inc corp co ltd llc plc bros no nos vs etc approx est dept univ assn fig vol ch pp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thurs fri sat sun
    ft mt ave blvd rd
    """.split()
)
_CLOSERS = "\"'”’)]»"
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then white space.
_BOUNDARY = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s)")
_NEXT_START = re.compile(r"\s+([\"'“‘(\[«]*)([A-Z0-9À-Ý])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.'’-]*)$")


def _is_boundary(text: str, end: int, match_text: str) -> bool:
    """Decide whether the candidate ending at ``end`` closes a sentence."""
    rest = text[end:]
    if rest[:1] == "\n" or rest.lstrip(" \t")[:1] == "\n":
        return True
    nxt = _NEXT_START.match(rest)
    if not nxt:
        return False  # next word is lower case (e.g. '," said a diplomat')
    if match_text[0] != ".":
        return True  # ! ? … followed by a capital
    if match_text.rstrip(_CLOSERS) != ".":
        return True  # "..." or a period with closing quotes
    word_m = _WORD_BEFORE.search(text[: end - 1])
    if not word_m:
        return True  # a number or symbol before the period
    word = word_m.group(1)
    bare = word.rstrip(".").lower()
    if bare in ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isupper():
        return False  # an initial: "George W. Bush"
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
        # An initialism such as U.S. or U.N.: a boundary only before a typical sentence opener.
        following = re.match(r"\s+[\"'“]?([A-Za-z]+)", rest)
        return bool(following and following.group(1) in _OPENERS)
    return True


_OPENERS = frozenset(
    "The A An It He She They We I This That These Those But And However In On At For If When While "
    "Its His Her Their Our Some Many Most Officials Diplomats".split()
)


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    # Paragraphs (lines) are always separate; sentences are found inside each.
    for para in re.finditer(r"[^\n]+", text):
        p_start, p_end = para.start(), para.end()
        line = para.group(0)
        cur = 0
        for m in _BOUNDARY.finditer(line):
            if _is_boundary(line, m.end(), m.group(0)):
                spans.append((p_start + cur, p_start + m.end()))
                nxt = re.match(r"\s*", line[m.end() :])
                cur = m.end() + (nxt.end() if nxt else 0)
        if cur < len(line):
            spans.append((p_start + cur, p_end))
    # Trim white space inside each span so that quotes never start or end with blanks.
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return tuple(out)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``, in order, non-overlapping, stripped of blanks."""
    return list(_split_cached(text))


def approx_token_count(text: str) -> int:
    """A cheap stand-in for a word-piece count (about 1.3 pieces a word), for tests and tools."""
    return int(len(re.findall(r"\w+|[^\w\s]", text)) * 1.15) + 1


def _cut_long_sentence(text: str, start: int, end: int, max_tokens: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Split one over-long sentence into word-aligned pieces that each fit ``max_tokens``."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i + 1
        lo_end = words[i][1]
        # Grow the piece word by word while it fits (binary search keeps long sentences cheap).
        lo, hi = i + 1, len(words)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(text[words[i][0] : words[mid - 1][1]]) <= max_tokens:
                lo = mid
            else:
                hi = mid - 1
        j = max(lo, i + 1)
        lo_end = words[j - 1][1]
        pieces.append((words[i][0], lo_end))
        i = j
    return pieces


def chunk_document(
    doc: Document,
    max_tokens: int = 200,
    overlap: int = 1,
    count_tokens: TokenCounter = approx_token_count,
) -> list[Chunk]:
    """Chunks of whole sentences, each at most ``max_tokens`` (by ``count_tokens``), with overlap.

    ``chunk_id`` is the chunk's position in the document; the store assigns global ids.
    """
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    if overlap < 0:
        raise ValueError("overlap must be >= 0")
    text = doc.text
    units: list[tuple[int, int]] = []
    for s, e in split_sentences(text):
        if count_tokens(text[s:e]) > max_tokens:
            units.extend(_cut_long_sentence(text, s, e, max_tokens, count_tokens))
        else:
            units.append((s, e))
    if not units:
        return []

    groups: list[tuple[int, int]] = []  # (first unit, last unit) inclusive
    i = 0
    while i < len(units):
        j = i
        while j + 1 < len(units) and count_tokens(text[units[i][0] : units[j + 1][1]]) <= max_tokens:
            j += 1
        groups.append((i, j))
        if j + 1 >= len(units):
            break
        i = max(j + 1 - overlap, i + 1)  # always advance, even when overlap >= group size

    return [
        Chunk(chunk_id=n, doc_id=doc.doc_id, start=units[a][0], end=units[b][1], text=text[units[a][0] : units[b][1]])
        for n, (a, b) in enumerate(groups)
    ]
