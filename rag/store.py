"""Store: the on-disk index — a FAISS vector index, the documents and chunks, and a manifest.

Layout of an index folder (format version 1; see index/README.md):

- ``manifest.json``: format version, embedding model, dimension, chunking parameters, index type,
  one entry per document (content hash, path, chunk ids) and the data files of this generation
  with their sizes and sha256. It is written last: it is the commit point.
- ``vectors-<gen>.faiss``: FAISS index with 64-bit chunk ids (flat inner product, or IVF with 8-bit
  scalar quantisation past ``approx_threshold`` vectors).
- ``documents-<gen>.jsonl``: one ``Document`` per line, text included (offsets refer to it).
- ``chunks-<gen>.jsonl``: ``[chunk_id, doc_id, start, end]`` per line (text is the document slice).
- ``query-encoder.*``: the ONNX export for encoding questions (``rag.embedding``; not a generation file).

Every save writes a new generation of data files (write, fsync, rename), then replaces the manifest
atomically, then deletes the older generation. A crash at any point leaves the previous generation
answering.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from rag.embedding import DocumentVectors
from rag.errors import IndexCorrupt, IndexMismatch, IndexMissing
from rag.files import atomic_write_bytes, file_sha256
from rag.schema import Chunk, Document

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
DEFAULT_APPROX_THRESHOLD = 50_000


class ChunkingConfig(BaseModel):
    max_tokens: int = 200
    overlap: int = 1


class FileEntry(BaseModel):
    name: str
    size: int
    sha256: str


class DocEntry(BaseModel):
    content_hash: str
    path: str | None = None
    chunk_ids: list[int] = Field(default_factory=list)


class Manifest(BaseModel):
    format_version: int = FORMAT_VERSION
    embedding_model: str
    dim: int
    # How the passage vectors were made: "fp32", the model itself (sentence-transformers); "int8", its int8
    # ONNX export (the query encoder). An index keeps its kind; manifests without the field are "fp32".
    document_vectors: DocumentVectors = "fp32"
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    index_type: Literal["flat", "ivf"] = "flat"
    approx_threshold: int = DEFAULT_APPROX_THRESHOLD
    nprobe: int = 32
    generation: int = 0
    next_chunk_id: int = 0
    corpus: str | None = None
    created_at: str = ""
    updated_at: str = ""
    documents: dict[str, DocEntry] = Field(default_factory=dict)
    files: dict[str, FileEntry] = Field(default_factory=dict)


# What every index error says to do; the CLI adds its own command (from ``IndexProblem.index_dir``).
REBUILD_HINT = "rebuild the index from its corpus folder"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


MAX_NLIST = 65536
TRAIN_PER_LIST = 39  # faiss wants at least ~39 training points per list


def ivf_lists(total: int) -> int:
    """IVF lists for a collection of ``total`` vectors: about 4·√N (the faiss guideline's low end)."""
    return int(min(MAX_NLIST, max(16, 4 * math.sqrt(total))))


def new_vector_index(dim: int, kind: Literal["flat", "ivf"], train: np.ndarray | None = None,
                     nlist: int | None = None) -> Any:
    """An empty FAISS index with 64-bit ids: exact inner product, or IVF-SQ8 trained on ``train`` with
    ``nlist`` lists (default: ``ivf_lists(len(train))``; never more than ``train`` supports)."""
    import faiss

    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if train is None or len(train) == 0:
        raise ValueError("an IVF index needs training vectors")
    nlist = min(nlist or ivf_lists(len(train)), max(1, len(train) // TRAIN_PER_LIST))
    index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    sample = train
    if len(train) > 256 * nlist:
        rng = np.random.default_rng(0)
        sample = train[rng.choice(len(train), 256 * nlist, replace=False)]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


class ChunkTable(MutableMapping[int, Chunk]):
    """chunk id -> ``Chunk``, kept as ``(doc_id, start, end)`` and made into a ``Chunk`` on access (its text
    is the document's slice). A million passages then cost about a hundred bytes each in memory and load
    in about a second, instead of one validated model object each."""

    def __init__(self, documents: Mapping[str, Document]) -> None:
        self._documents = documents
        self._rows: dict[int, tuple[str, int, int]] = {}

    def load_rows(self, rows: Iterable[tuple[int, str, int, int]]) -> None:
        """Bulk-load ``(chunk_id, doc_id, start, end)`` rows as read from a chunks file (no ``Chunk`` made)."""
        for cid, doc_id, start, end in rows:
            self._rows[cid] = (doc_id, start, end)

    def copy(self, documents: Mapping[str, Document]) -> ChunkTable:
        """The same rows over ``documents`` (a copy of the store's), to be changed on their own."""
        table = ChunkTable(documents)
        table._rows = dict(self._rows)
        return table

    def rows(self) -> Iterator[tuple[int, str, int, int]]:
        """Every ``(chunk_id, doc_id, start, end)``, as written to a chunks file."""
        return ((cid, *row) for cid, row in self._rows.items())

    def __getitem__(self, chunk_id: int) -> Chunk:
        doc_id, start, end = self._rows[chunk_id]
        return Chunk(chunk_id=chunk_id, doc_id=doc_id, start=start, end=end,
                     text=self._documents[doc_id].text[start:end])

    def __setitem__(self, chunk_id: int, chunk: Chunk) -> None:
        self._rows[chunk_id] = (chunk.doc_id, chunk.start, chunk.end)

    def __delitem__(self, chunk_id: int) -> None:
        del self._rows[chunk_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self._rows

    def discard(self, chunk_id: int) -> None:
        """Forget a chunk (its document may be gone already, so no ``Chunk`` is made, unlike ``pop``)."""
        self._rows.pop(chunk_id, None)

    def text(self, chunk_id: int) -> str:
        """A chunk's text without building the ``Chunk``."""
        doc_id, start, end = self._rows[chunk_id]
        return self._documents[doc_id].text[start:end]


class IndexStore:
    """An index folder in memory: manifest, documents, chunks and vectors; not thread-safe for writes."""

    def __init__(self, path: Path, manifest: Manifest, documents: dict[str, Document],
                 chunks: Mapping[int, Chunk], vectors: Any) -> None:
        self.path = path
        self.manifest = manifest
        self.documents = documents
        if not isinstance(chunks, ChunkTable):
            table = ChunkTable(documents)
            table.update(chunks)
            chunks = table
        self.chunks: ChunkTable = chunks
        self.vectors = vectors
        self._stamp: tuple[int, int, int] | None = None  # the manifest file this store matches on disk
        self._planned = 0  # vectors this store expects to hold once the current run is added (``reserve``)

    # ---- creation and loading -------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, embedding_model: str, dim: int, chunking: ChunkingConfig,
               approx_threshold: int = DEFAULT_APPROX_THRESHOLD,
               document_vectors: DocumentVectors = "fp32") -> IndexStore:
        """A new, empty, unsaved index."""
        manifest = Manifest(embedding_model=embedding_model, dim=dim, chunking=chunking,
                            approx_threshold=approx_threshold, created_at=_now(), document_vectors=document_vectors)
        return cls(Path(path), manifest, {}, {}, new_vector_index(dim, "flat"))

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    @classmethod
    def read_manifest(cls, path: str | Path) -> Manifest:
        path = Path(path)
        mpath = path / MANIFEST
        if not mpath.is_file():
            raise IndexMissing(f"no index at {path} (no {MANIFEST}); build it from a corpus folder", path)
        try:
            raw = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise IndexCorrupt(f"{mpath} is unreadable ({e}); {REBUILD_HINT}", path) from None
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if version != FORMAT_VERSION:
            raise IndexMismatch(
                f"index at {path} has format version {version}, this program reads {FORMAT_VERSION}; "
                + REBUILD_HINT,
                path,
            )
        try:
            return Manifest.model_validate(raw)
        except ValidationError as e:
            raise IndexCorrupt(f"{mpath} is malformed ({e.error_count()} errors); {REBUILD_HINT}", path) from None

    @classmethod
    def open(cls, path: str | Path, verify_hashes: bool = False) -> IndexStore:
        """Load an index, checking that every file the manifest names is present and whole."""
        import faiss

        path = Path(path)
        stamp = cls.manifest_stamp(path)  # taken first: a save in between makes the store look stale, not fresh
        manifest = cls.read_manifest(path)
        for role in ("vectors", "documents", "chunks"):
            entry = manifest.files.get(role)
            if entry is None:
                raise IndexCorrupt(f"{path / MANIFEST} names no {role} file; {REBUILD_HINT}", path)
            fpath = path / entry.name
            if not fpath.is_file():
                raise IndexCorrupt(f"index file missing: {fpath}; {REBUILD_HINT}", path)
            size = fpath.stat().st_size
            if size != entry.size:
                raise IndexCorrupt(
                    f"index file truncated or changed: {fpath} ({size} bytes, manifest says {entry.size}); "
                    + REBUILD_HINT,
                    path,
                )
            if (verify_hashes or role != "vectors") and file_sha256(fpath) != entry.sha256:
                raise IndexCorrupt(f"index file corrupted: {fpath} (checksum mismatch); {REBUILD_HINT}", path)
        try:
            documents: dict[str, Document] = {}
            with (path / manifest.files["documents"].name).open(encoding="utf-8") as f:
                for line in f:
                    doc = Document.model_validate_json(line)
                    documents[doc.doc_id] = doc
            chunks = ChunkTable(documents)
            lines = (path / manifest.files["chunks"].name).read_text(encoding="utf-8").splitlines()
            doc_key = {d: d for d in documents}  # one shared string per document id
            parsed = json.loads("[" + ",".join(lines) + "]")  # one parse, not one a line
            chunks.load_rows((cid, doc_key[doc_id], start, end) for cid, doc_id, start, end in parsed)
            vectors = faiss.read_index(str(path / manifest.files["vectors"].name))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise IndexCorrupt(
                f"index at {path} is unreadable ({type(e).__name__}: {e}); {REBUILD_HINT}", path
            ) from None
        if vectors.ntotal != len(chunks) or vectors.d != manifest.dim:
            raise IndexCorrupt(
                f"index at {path} is inconsistent ({vectors.ntotal} vectors, {len(chunks)} chunks); "
                + REBUILD_HINT,
                path,
            )
        store = cls(path, manifest, documents, chunks, vectors)
        store._set_nprobe()
        store._stamp = stamp
        return store

    @staticmethod
    def manifest_stamp(path: str | Path) -> tuple[int, int, int] | None:
        """(inode, mtime ns, size) of the manifest: changes with every save, which renames a new file in."""
        try:
            st = (Path(path) / MANIFEST).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def is_current(self) -> bool:
        """True when the folder still holds the generation this store was opened at or saved as (no other
        writer saved since), checked without reading the manifest."""
        return self._stamp is not None and self._stamp == self.manifest_stamp(self.path)

    def copy(self) -> IndexStore:
        """A private working copy to change and save while readers keep using this one (copy on write).

        The vector index is cloned; documents and manifest entries are shared, since changes replace
        them rather than mutate them. Cheaper than ``open`` by far: nothing is read or validated.
        """
        import faiss

        manifest = self.manifest.model_copy(update={"documents": dict(self.manifest.documents)})
        documents = dict(self.documents)
        chunks = self.chunks.copy(documents)
        store = IndexStore(self.path, manifest, documents, chunks, faiss.clone_index(self.vectors))
        store._set_nprobe()
        store._stamp = self._stamp
        return store

    # ---- changes ---------------------------------------------------------------------------
    def remove_documents(self, doc_ids: Iterable[str]) -> int:
        """Drop documents, their chunks and vectors; returns how many chunks went."""
        ids: list[int] = []
        for doc_id in doc_ids:
            entry = self.manifest.documents.pop(doc_id, None)
            self.documents.pop(doc_id, None)
            if entry:
                ids.extend(entry.chunk_ids)
        for cid in ids:
            self.chunks.discard(cid)
        if ids:
            self.vectors.remove_ids(np.asarray(ids, dtype=np.int64))
        return len(ids)

    def add_document(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray) -> list[int]:
        """Add one document with its chunks and their vectors (rows in chunk order)."""
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk")
        if doc.doc_id in self.documents:
            self.remove_documents([doc.doc_id])
        first = self.manifest.next_chunk_id
        ids = list(range(first, first + len(chunks)))
        self.manifest.next_chunk_id = first + len(chunks)
        for cid, ch in zip(ids, chunks, strict=True):
            self.chunks[cid] = ch.model_copy(update={"chunk_id": cid})
        self.documents[doc.doc_id] = doc
        self.manifest.documents[doc.doc_id] = DocEntry(content_hash=doc.content_hash, path=doc.path, chunk_ids=ids)
        if ids:
            self._add_vectors(np.asarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
        return ids

    def reserve(self, n_new: int) -> None:
        """Expect ``n_new`` more vectors in this run (an estimate will do), so that a collection growing past
        ``approx_threshold`` gets an IVF index sized for where it is going: ``ivf_lists`` of the planned total,
        trained on the first ``TRAIN_PER_LIST`` vectors per list to arrive (at least ``approx_threshold``).
        Those are held in the exact index until then; every later vector goes straight into the IVF lists,
        so a large build never holds all its vectors uncompressed."""
        self._planned = self.vectors.ntotal + max(0, n_new)

    def _ivf_plan(self) -> tuple[int, int]:
        """(lists, training vectors) for the move to IVF, from the planned total (``reserve``)."""
        m = self.manifest
        if self._planned <= m.approx_threshold:
            return 0, m.approx_threshold  # unplanned: as many lists as the vectors at the move support
        nlist = ivf_lists(self._planned)
        return nlist, min(self._planned, max(m.approx_threshold, TRAIN_PER_LIST * nlist))

    def _add_vectors(self, vecs: np.ndarray, ids: np.ndarray) -> None:
        m = self.manifest
        if m.index_type == "flat":
            nlist, train_size = self._ivf_plan()
            if self.vectors.ntotal + len(ids) > m.approx_threshold and self.vectors.ntotal + len(ids) >= train_size:
                self._to_approximate(extra=(vecs, ids), nlist=nlist or None)
                return
        self.vectors.add_with_ids(np.ascontiguousarray(vecs), ids)

    def _to_approximate(self, extra: tuple[np.ndarray, np.ndarray], nlist: int | None = None) -> None:
        """Move from the exact flat index to IVF-SQ8 once the collection outgrows it (``nlist`` lists,
        default as many as the vectors at hand support), trained on every vector at hand."""
        import faiss

        flat = self.vectors
        n = flat.ntotal
        old_vecs = flat.index.reconstruct_n(0, n) if n else np.zeros((0, self.manifest.dim), np.float32)
        old_ids = faiss.vector_to_array(flat.id_map).astype(np.int64) if n else np.zeros(0, np.int64)
        all_vecs = np.vstack([old_vecs, extra[0]]).astype(np.float32)
        all_ids = np.concatenate([old_ids, extra[1]])
        index = new_vector_index(self.manifest.dim, "ivf", train=all_vecs, nlist=nlist)
        index.add_with_ids(all_vecs, all_ids)
        self.vectors = index
        self.manifest.index_type = "ivf"
        self._set_nprobe()

    def _set_nprobe(self) -> None:
        if self.manifest.index_type == "ivf":
            self.vectors.nprobe = self.manifest.nprobe

    # ---- queries ---------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, chunk_ids: Iterable[int] | None = None) -> list[tuple[int, float]]:
        """(chunk_id, inner product) pairs, best first; ``chunk_ids`` restricts the search."""
        import faiss

        if self.vectors.ntotal == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params: Any = None
        if chunk_ids is not None:
            allowed = np.fromiter(chunk_ids, dtype=np.int64)
            if len(allowed) == 0:
                return []
            sel = faiss.IDSelectorBatch(allowed)
            if self.manifest.index_type == "ivf":  # filtered: search every list, the allowed ids may be anywhere
                params = faiss.SearchParametersIVF(sel=sel, nprobe=self.vectors.nlist)  # type: ignore[call-arg]
            else:
                params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
            k = min(k, len(allowed))
        # One query gains nothing from OpenMP threads, and on a busy machine waiting for them to be
        # scheduled costs far more than the search (flat 10k: 20 ms instead of 0.4 ms on 2 loaded cores).
        # The setting is per calling thread, so concurrent searches and indexing elsewhere are unaffected.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.vectors.search(q, min(k, self.vectors.ntotal), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    # ---- persistence -----------------------------------------------------------------------
    def save(self) -> None:
        """Write a new generation of files, then commit it by replacing the manifest."""
        import faiss

        self.path.mkdir(parents=True, exist_ok=True)
        if self.manifest.index_type == "flat" and self.vectors.ntotal > self.manifest.approx_threshold:
            self._to_approximate(extra=(np.zeros((0, self.manifest.dim), np.float32), np.zeros(0, np.int64)))
        self._planned = 0  # a planned run (``reserve``) ends with its save
        m = self.manifest
        gen = m.generation + 1
        old_files = {e.name for e in m.files.values()}
        names = {
            "vectors": f"vectors-{gen:06d}.faiss",
            "documents": f"documents-{gen:06d}.jsonl",
            "chunks": f"chunks-{gen:06d}.jsonl",
        }
        docs_blob = "".join(d.model_dump_json() + "\n" for d in self.documents.values()).encode("utf-8")
        chunks_blob = "".join(
            f"[{cid}, {json.dumps(doc_id)}, {start}, {end}]\n" for cid, doc_id, start, end in sorted(self.chunks.rows())
        ).encode()
        atomic_write_bytes(self.path / names["documents"], docs_blob)
        atomic_write_bytes(self.path / names["chunks"], chunks_blob)
        vec_blob = faiss.serialize_index(self.vectors).tobytes()
        atomic_write_bytes(self.path / names["vectors"], vec_blob)
        files = {}
        for role, blob in (("documents", docs_blob), ("chunks", chunks_blob), ("vectors", vec_blob)):
            files[role] = FileEntry(name=names[role], size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
        new_manifest = m.model_copy(update={"generation": gen, "files": files, "updated_at": _now()})
        atomic_write_bytes(self.path / MANIFEST, new_manifest.model_dump_json(indent=1).encode("utf-8"))
        self.manifest = new_manifest
        self._stamp = self.manifest_stamp(self.path)
        for name in old_files - set(names.values()):
            (self.path / name).unlink(missing_ok=True)
        for stray in self.path.glob(".*.tmp"):  # left by a writer that was killed
            stray.unlink(missing_ok=True)
