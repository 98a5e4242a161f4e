"""Content words: the question's words that matter, stemmed (Snowball English via PyStemmer).

Shared by the follow-up rule (``rag.followup``) and the answerer's sentence re-scoring (``rag.answer``), so
both read a question the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

STOP_WORDS = frozenset(
    """a an the of in on at to for from by with about as and or but is are was were be been being do does did
    has have had what which who whom whose when where why how many much that this these those it its
    their there than then into over under up down out not no yes can could would should will shall may might
    must say said says according""".split()
)


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[str], str]:
    import Stemmer

    st = Stemmer.Stemmer("english")
    return st.stemWord


def content_stems(text: str) -> set[str]:
    """The stems of ``text``'s content words."""
    stem = _stemmer()
    return {stem(w) for w in content_words(text)}


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not stop words, lower-cased, in order (not stemmed)."""
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP_WORDS and len(w) > 1]
