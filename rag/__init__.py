"""Offline extractive question answering over a folder of news articles, with cited quotes."""

from typing import TYPE_CHECKING

from rag.changes import Change
from rag.reader import normalize_answer
from rag.schema import Answer, Candidate, Chunk, Citation, Document, Passage, Span, Turn
from rag.trash import TrashEntry

if TYPE_CHECKING:  # for type checkers only: at run time these are imported lazily below
    from rag.assistant import Assistant
    from rag.retriever import DocFilter

__all__ = ["Answer", "Assistant", "Candidate", "Change", "Chunk", "Citation", "DocFilter", "Document", "Passage",
           "Span", "TrashEntry", "Turn", "normalize_answer"]


def __getattr__(name: str) -> object:
    # Lazy: importing rag must stay cheap (cold `rag ask` budget); Assistant pulls in FAISS and friends.
    if name == "Assistant":
        from rag.assistant import Assistant

        return Assistant
    if name == "DocFilter":
        from rag.retriever import DocFilter

        return DocFilter
    raise AttributeError(name)
