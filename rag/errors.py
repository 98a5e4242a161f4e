"""The documented exceptions: everything the library raises on purpose derives from ``RagError``."""


class RagError(Exception):
    """Base class; the CLI prints these as one line and exits non-zero."""


class EmptyQuestion(RagError, ValueError):
    """The question is empty or only white space."""


class EmptyCorpus(RagError):
    """The corpus folder holds no readable article."""


class IndexMissing(RagError, FileNotFoundError):
    """No index at the given folder."""


class IndexCorrupt(RagError):
    """An index file is missing, truncated or unreadable."""


class IndexMismatch(RagError):
    """The index was made with another format version, embedding model or chunking."""


class UnknownDocument(RagError, KeyError):
    """No document with that id in the index."""
