"""Offline extractive question answering over a folder of news articles, with cited quotes."""

from rag.schema import Answer, Chunk, Citation, Document, Passage, Span

__all__ = ["Answer", "Chunk", "Citation", "Document", "Passage", "Span", "Assistant"]


def __getattr__(name: str) -> object:
    # Lazy: importing rag must stay cheap (cold `rag ask` budget); Assistant pulls in FAISS and friends.
    if name == "Assistant":
        from rag.assistant import Assistant

        return Assistant
    raise AttributeError(name)
