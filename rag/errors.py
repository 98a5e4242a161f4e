"""The documented exceptions: everything the library raises on purpose derives from ``RagError``."""


class RagError(Exception):
    """Base class; the CLI prints these as one line and exits non-zero."""


class EmptyQuestion(RagError, ValueError):
    """The question is empty or only white space."""


class EmptyCorpus(RagError):
    """The corpus folder holds no readable article."""


class IndexProblem(RagError):
    """Something is wrong with an index folder; ``index_dir`` names it, so that a caller (the CLI) can say
    how to fix it in its own terms. The library's messages name no command."""

    def __init__(self, message: str, index_dir: object = None) -> None:
        super().__init__(message)
        self.index_dir = index_dir


class IndexMissing(IndexProblem, FileNotFoundError):
    """No index at the given folder: it has to be built from a corpus folder."""


class IndexCorrupt(IndexProblem):
    """An index file is missing, truncated or unreadable: the index has to be rebuilt."""


class IndexMismatch(IndexProblem):
    """The index was made with another format version, embedding model or chunking: it has to be rebuilt."""


class UnknownDocument(RagError, KeyError):
    """No document with that id in the index."""


class ExtraMissing(RagError, ImportError):
    """An optional part was asked for whose packages are not installed (e.g. Ray for indexing on a cluster)."""
