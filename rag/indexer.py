"""Indexing: corpus folder -> (ingest, chunk, embed) -> store, incrementally and under a lock.

Only new or changed documents (by content hash) are chunked and embedded; deleted ones are dropped.
Two indexing runs on one folder are serialised by a file lock; readers never need it, because a
save only ever replaces the manifest atomically.

An indexing run also makes sure the embedding model's ONNX query encoder exists (once per model, in the
user's cache, never in the index folder; see ``rag.embedding``), so that answering questions later
needs neither torch nor sentence-transformers.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock
from pydantic import BaseModel, Field

from rag.changes import CHANGES_FILE, record_indexing
from rag.chunking import chunk_document
from rag.embedding import (
    QUERY_ENCODER_META,
    QUERY_ENCODER_ONNX,
    QUERY_ENCODER_TOKENIZER,
    DocumentVectors,
    DocumentVectorsUnavailable,
    TextEmbedder,
)
from rag.errors import EmptyCorpus, IndexMismatch
from rag.ingest import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Admission,
    IngestIssue,
    fallback_id,
    load_corpus,
    read_file,
    with_alias,
)
from rag.schema import Chunk, Document
from rag.store import LOCK, REBUILD_HINT, ChunkingConfig, IndexStore
from rag.trash import Trash

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
# Characters of article text per chunk and per word piece of ``max_tokens``: the seeds give 716 characters a
# chunk at 200 (with one sentence of overlap). Only sizes the IVF index of a run whose chunks are counted
# elsewhere (``vectorize``): an estimate is enough there.
CHUNK_CHARS_PER_TOKEN = 3.5
# Chunks and embeds documents somewhere else (``rag.distributed``: on Ray workers), yielding each document
# with its chunks and their vectors as they are ready (``rag.distributed`` yields them in the given order).
Vectorize = Callable[[list[Document], ChunkingConfig, DocumentVectors],
                     Iterable[tuple[Document, list[Chunk], np.ndarray]]]


class IndexReport(BaseModel):
    """What one indexing run did."""

    index_dir: str
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unchanged: int = 0
    chunks_embedded: int = 0
    documents: int = 0
    chunks: int = 0
    skipped: list[str] = Field(default_factory=list)  # "path[:line]: reason", one per issue
    seconds: float = 0.0
    embed_seconds: float = 0.0
    query_encoder: bool = False  # the model's ONNX query encoder is available (in the user's cache)
    export_seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def _drop_legacy_query_encoder(index_dir: Path) -> None:
    """Indexes made before the query encoder moved to the user's cache held a 90 MB copy of it: remove it
    (an index folder holds no model weights)."""
    for name in (QUERY_ENCODER_META, QUERY_ENCODER_ONNX, QUERY_ENCODER_TOKENIZER):
        (index_dir / name).unlink(missing_ok=True)


def index_lock(index_dir: Path, timeout: float = -1) -> FileLock:
    index_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(index_dir / LOCK), timeout=timeout)


def check_compatible(store: IndexStore, embedder: TextEmbedder, chunking: ChunkingConfig | None) -> None:
    """Refuse to mix vectors from two models or two chunkings in one index."""
    m = store.manifest
    if m.embedding_model != embedder.name:
        raise IndexMismatch(
            f"index at {store.path} was built with model {m.embedding_model!r}, not {embedder.name!r}; "
            + REBUILD_HINT,
            store.path,
        )
    if chunking is not None and chunking != m.chunking:
        raise IndexMismatch(
            f"index at {store.path} was built with chunking {m.chunking.model_dump()}, not {chunking.model_dump()}; "
            + REBUILD_HINT,
            store.path,
        )


def _open_or_create(index_dir: Path, embedder: TextEmbedder, chunking: ChunkingConfig | None, rebuild: bool,
                    approx_threshold: int | None, int8: bool = True) -> IndexStore:
    """The index at ``index_dir`` (checked against ``embedder`` and ``chunking``), or a new empty one.
    A new index holds int8 passage vectors when ``int8`` (the model's int8 ONNX export is there), fp32
    vectors otherwise; an existing index keeps the kind it has."""
    if rebuild and IndexStore.exists(index_dir):
        for p in index_dir.iterdir():
            if p.name not in {LOCK, "README.md", CHANGES_FILE}:  # the record of changes outlives a rebuild
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    if IndexStore.exists(index_dir):
        store = IndexStore.open(index_dir)
        check_compatible(store, embedder, chunking)
        return store
    kind: DocumentVectors = "int8" if int8 else "fp32"
    store = IndexStore.create(index_dir, embedder.name, embedder.dim, chunking or ChunkingConfig(),
                              document_vectors=kind)
    if approx_threshold is not None:
        store.manifest.approx_threshold = approx_threshold
    return store


def _plan_update(store: IndexStore, documents: list[Document], report: IndexReport) -> tuple[list[Document], bool]:
    """What a whole-folder update changes: the documents to (re-)embed, filling ``report`` (added,
    updated, removed, unchanged), and whether metadata of unchanged documents changed (applied here)."""
    wanted = {d.doc_id: d for d in documents}
    old = store.manifest.documents
    report.removed = sorted(set(old) - set(wanted))
    to_embed: list[Document] = []
    metadata_changed = False
    for doc_id, doc in wanted.items():
        entry = old.get(doc_id)
        if entry is None:
            report.added.append(doc_id)
            to_embed.append(doc)
        elif entry.content_hash != doc.content_hash:
            report.updated.append(doc_id)
            to_embed.append(doc)
        else:
            report.unchanged += 1
            if store.documents[doc_id] != doc:  # same text, new metadata (title, path, aliases)
                store.documents[doc_id] = doc
                store.manifest.documents[doc_id] = entry.model_copy(update={"path": doc.path})
                metadata_changed = True
    return to_embed, metadata_changed


def update_index(
    corpus: str | Path,
    index_dir: str | Path,
    embedder: TextEmbedder,
    chunking: ChunkingConfig | None = None,
    *,
    rebuild: bool = False,
    approx_threshold: int | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    progress: Progress | None = None,
    show_progress_bar: bool = False,
    documents: list[Document] | None = None,
    issues: list[IngestIssue] | None = None,
    query_encoder: bool = True,
    user: str | None = None,
    vectorize: Vectorize | None = None,
) -> IndexReport:
    """Bring the index at ``index_dir`` in line with the folder ``corpus`` (or given ``documents``, read
    from it with ``issues``).

    ``query_encoder``: also export the model to ONNX for fast question encoding, when not done yet; a new
    index then embeds its passages with that int8 export too (``Manifest.document_vectors``), otherwise
    with the model itself (fp32). An existing index keeps its kind.
    ``vectorize``: chunk and embed the new or changed documents with it instead of ``embedder`` in this
    process; their vectors are added to the index as they arrive (``rag.distributed``).
    The run is recorded in the index's ``changes.jsonl`` (``rag.changes``), by ``user`` when known.
    """
    t0 = time.perf_counter()
    corpus = Path(corpus)
    index_dir = Path(index_dir)
    say = progress or (lambda f, msg: None)
    say(0.0, f"reading {corpus}")
    issues = list(issues or [])
    if documents is None:
        documents, issues = load_corpus(corpus, max_bytes=max_file_bytes)
        documents = without_tombstoned(corpus, documents)
    if not documents:
        detail = f" ({len(issues)} files skipped: {'; '.join(map(str, issues[:3]))})" if issues else ""
        raise EmptyCorpus(f"no readable article in {corpus}{detail}")

    with index_lock(index_dir):
        exported, export_seconds = False, 0.0
        if query_encoder:  # first: a new index embeds its passages with the export (int8 vectors)
            t_export = time.perf_counter()
            exported = embedder.export_query_encoder()
            export_seconds = time.perf_counter() - t_export
        store = _open_or_create(index_dir, embedder, chunking, rebuild, approx_threshold, int8=exported)
        moved = store.manifest.corpus != str(corpus.resolve())  # the folder was moved or renamed
        store.manifest.corpus = str(corpus.resolve())

        report = IndexReport(index_dir=str(index_dir), skipped=[str(i) for i in issues],
                             query_encoder=exported, export_seconds=export_seconds)
        to_embed, metadata_changed = _plan_update(store, documents, report)
        paths = {d: store.documents[d].path for d in report.removed + report.updated}
        store.remove_documents(report.removed + report.updated)
        _embed_and_add(store, to_embed, embedder, report, say, show_progress_bar, vectorize)
        if report.changed or metadata_changed or moved or not IndexStore.exists(index_dir):
            say(0.95, "saving index")
            store.save()
        paths.update({d: store.documents[d].path for d in report.added + report.updated})
        record_indexing(index_dir, "reindex", report.added, report.updated, report.removed, paths, user)
        _drop_legacy_query_encoder(Path(index_dir))
        report.documents = len(store.documents)
        report.chunks = len(store.chunks)
    report.seconds = time.perf_counter() - t0
    say(1.0, "index ready")
    log.info("indexed %s: %s", corpus, report.model_dump(exclude={"skipped"}))
    return report


def _embed_and_add(store: IndexStore, docs: list[Document], embedder: TextEmbedder, report: IndexReport,
                   say: Progress, show_progress_bar: bool = False, vectorize: Vectorize | None = None) -> None:
    """Chunk and embed ``docs`` and add them to ``store`` (not saved). With ``vectorize``, each document is
    added as its vectors arrive, so the vectors of a large run are never all held at once (past the
    store's ``approx_threshold`` they go straight into the IVF index); ``embed_seconds`` then counts the
    chunking too."""
    cfg = store.manifest.chunking
    if vectorize is not None and docs:
        per_chunk = CHUNK_CHARS_PER_TOKEN * cfg.max_tokens
        store.reserve(sum(max(1, math.ceil(len(d.text) / per_chunk)) for d in docs))
        say(0.05, f"chunking and embedding {len(docs)} new or changed documents")
        t_embed = time.perf_counter()
        for doc, chunks, vectors in vectorize(docs, cfg, store.manifest.document_vectors):
            store.add_document(doc, chunks, vectors)
            report.chunks_embedded += len(chunks)
        report.embed_seconds = time.perf_counter() - t_embed
        return
    say(0.05, f"chunking {len(docs)} new or changed documents")
    per_doc: list[tuple[Document, list[Chunk]]] = [
        (doc, chunk_document(doc, cfg.max_tokens, cfg.overlap, embedder.count_tokens)) for doc in docs
    ]
    texts = [c.text for _, chunks in per_doc for c in chunks]
    store.reserve(len(texts))
    say(0.1, f"embedding {len(texts)} chunks")
    t_embed = time.perf_counter()
    try:
        vectors = embedder.encode_documents(texts, store.manifest.document_vectors,
                                            progress=show_progress_bar and len(texts) > 64)
    except DocumentVectorsUnavailable as e:
        raise IndexMismatch(f"index at {store.path} holds {store.manifest.document_vectors} passage vectors: {e}; "
                            + REBUILD_HINT, store.path) from None
    report.embed_seconds = time.perf_counter() - t_embed
    row = 0
    for doc, chunks in per_doc:
        store.add_document(doc, chunks, vectors[row : row + len(chunks)])
        row += len(chunks)
    report.chunks_embedded = len(texts)


def without_tombstoned(corpus: Path, documents: list[Document]) -> list[Document]:
    """``documents`` less the articles deleted from shared files (the trash's tombstones)."""
    dead = Trash(corpus).tombstones()
    return [d for d in documents if (d.path, d.doc_id) not in dead] if dead else documents


def _read_added(paths: Sequence[Path], root: Path, max_file_bytes: int, report: IndexReport) -> list[Document]:
    """The documents of files placed in the corpus folder ``root``; unreadable ones go to ``report``."""
    docs: list[Document] = []
    for path in paths:
        path = Path(path).resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{path} is not inside the corpus folder {root}")
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.skipped.append(str(IngestIssue(path.relative_to(root).as_posix(), "unsupported file type")))
            continue
        file_docs, issues = read_file(path, root, max_file_bytes)
        docs.extend(file_docs)
        report.skipped.extend(str(i) for i in issues)
    return docs


def _admit(store: IndexStore, docs: list[Document], report: IndexReport) -> tuple[dict[str, Document], bool]:
    """Which added documents enter the index, and under which id: the same file (or record) again is
    re-indexed when its text changed; anything else goes through ``ingest.Admission``, the rule
    ``load_corpus`` applies to a whole folder. Fills ``report``; returns the documents to embed and
    whether aliases changed."""
    admission = Admission(store.documents.values())
    to_embed: dict[str, Document] = {}
    metadata_changed = False
    for doc in docs:
        same = [store.documents[i] for i in (doc.doc_id, fallback_id(doc))
                if i in store.documents and store.documents[i].path == doc.path]
        if same:  # the same file (or record) again, under its plain or its path id
            if same[0].content_hash == doc.content_hash:
                report.unchanged += 1
                continue
            doc = doc.model_copy(update={"doc_id": same[0].doc_id})
            admission.replace(doc, old_hash=same[0].content_hash)
            report.updated.append(doc.doc_id)
            to_embed[doc.doc_id] = doc
            continue
        verdict = admission.admit(doc)
        if verdict.issue is not None:
            report.skipped.append(str(verdict.issue))
        if verdict.kind == "alias" and verdict.dup in to_embed:  # a copy of a file added in this batch
            to_embed[verdict.dup] = with_alias(to_embed[verdict.dup], doc)
        elif verdict.kind == "alias" and verdict.dup is not None:  # a copy of an indexed article
            kept = store.documents[verdict.dup]
            aliased = with_alias(kept, doc)
            if aliased is not kept:
                store.documents[verdict.dup] = aliased
                metadata_changed = True
        elif verdict.kind == "admit" and verdict.doc is not None:
            report.added.append(verdict.doc.doc_id)
            to_embed[verdict.doc.doc_id] = verdict.doc
    return to_embed, metadata_changed


def add_files(
    paths: Sequence[Path],
    index_dir: str | Path,
    embedder: TextEmbedder,
    *,
    store: IndexStore | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    progress: Progress | None = None,
) -> tuple[IndexReport, IndexStore]:
    """Index files just placed in the index's corpus folder, without re-reading the rest of the folder.

    What a web upload runs: only ``paths`` are read, and ``store`` (a working copy of the open index,
    see ``IndexStore.copy``) is changed and saved instead of re-opening the index from disk, unless
    another process saved a newer generation meanwhile. A file whose text is already indexed becomes an
    alias of that document; a taken id is replaced by the file's path, as ``load_corpus`` does; a file
    already indexed under the same path is re-indexed when its text changed. Returns the report and the
    saved store.
    """
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    say = progress or (lambda f, msg: None)
    manifest = store.manifest if store is not None else IndexStore.read_manifest(index_dir)
    if not manifest.corpus:
        raise ValueError(f"the index at {index_dir} records no corpus folder; give one")
    root = Path(manifest.corpus).resolve()
    report = IndexReport(index_dir=str(index_dir))
    docs = without_tombstoned(root, _read_added(paths, root, max_file_bytes, report))

    with index_lock(index_dir):
        if store is None or not store.is_current():
            store = IndexStore.open(index_dir)  # changed on disk since the copy was taken
        check_compatible(store, embedder, None)
        to_embed, metadata_changed = _admit(store, docs, report)
        store.remove_documents(report.updated)
        _embed_and_add(store, list(to_embed.values()), embedder, report, say)
        if report.changed or metadata_changed:
            say(0.95, "saving index")
            store.save()
        report.documents = len(store.documents)
        report.chunks = len(store.chunks)
    report.seconds = time.perf_counter() - t0
    say(1.0, "index ready")
    log.info("added %s: %s", [str(p) for p in paths], report.model_dump(exclude={"skipped"}))
    return report, store
