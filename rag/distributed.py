"""Indexing on a Ray cluster: the index ``rag.indexer.update_index`` builds, with the reading, chunking and
embedding spread over Ray Data workers (``pip install -e ".[ray]"``; never needed otherwise).

The pipeline, in two Ray Data runs:

1. files -> documents: ``read_file`` in Ray tasks, a batch of files each. The driver then admits the
   documents in file order with the one admission rule (``ingest.admit_all``) and plans the update as
   ``update_index`` does (only new or changed articles go on).
2. documents -> chunks -> vectors: ``chunk_document`` in Ray tasks (the model's tokenizer is loaded once per
   worker process), then the embedding model in an actor pool (loaded once per actor; ``concurrency``
   actors, ``batch_size`` chunks per call). The driver adds each document's vectors to the index as they
   arrive, in the planned order, so chunk ids are those the single-process path gives, and past the
   store's ``approx_threshold`` the vectors go straight into the IVF index: they are never all held at once.

Everything after that is ``update_index``'s: the lock, the incremental plan, the atomic save, the record of
changes. Ray retries a failed read or chunk task and restarts a dead embedding actor (Ray Data's defaults:
tasks are retried, actors restarted with their batches run again), so a worker lost mid-run costs time,
not vectors. Every node needs this package and the embedding model installed (the model is read from the
path the driver resolved, as ``rag index`` does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from rag.chunking import chunk_document
from rag.embedding import ONNX_THREADS_ENV, DocumentVectors, Embedder
from rag.errors import ExtraMissing
from rag.indexer import IndexReport, Progress, update_index, without_tombstoned
from rag.ingest import MAX_FILE_BYTES, IngestIssue, admit_all, iter_corpus_files, read_file
from rag.schema import Chunk, Document
from rag.store import ChunkingConfig


class RayOptions(BaseModel):
    """Where and how the Ray path runs."""

    address: str | None = None  # a running cluster ("ray://host:10001", "auto"); None: start a local one
    num_cpus: int | None = None  # CPUs of the local cluster (None: all of this machine's)
    concurrency: int = Field(default=2, ge=1)  # embedding actors, each holding the model once
    cpus_per_actor: float = Field(default=1.0, gt=0)  # also the torch threads of each actor (at least 1)
    batch_size: int = Field(default=256, ge=1)  # chunks per embedding call (sorted by length inside it)
    files_per_task: int = Field(default=16, ge=1)  # files read by one task
    docs_per_task: int = Field(default=32, ge=1)  # documents chunked by one task


def ray_update_index(
    corpus: str | Path,
    index_dir: str | Path,
    embedder: Embedder,
    chunking: ChunkingConfig | None = None,
    *,
    options: RayOptions | None = None,
    rebuild: bool = False,
    approx_threshold: int | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    progress: Progress | None = None,
    query_encoder: bool = True,
    user: str | None = None,
) -> IndexReport:
    """``update_index`` with reading, chunking and embedding on Ray (see the module docstring)."""
    options = options or RayOptions()
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus}")
    with ray_session(options):
        documents, issues = read_corpus(corpus, options, max_file_bytes)
        documents = without_tombstoned(corpus, documents)

        def vectorize(docs: list[Document], cfg: ChunkingConfig,
                      kind: DocumentVectors) -> Iterator[tuple[Document, list[Chunk], np.ndarray]]:
            return embed_documents(docs, cfg, embedder.path, options, kind)

        return update_index(corpus, index_dir, embedder, chunking, rebuild=rebuild, approx_threshold=approx_threshold,
                            progress=progress, documents=documents, issues=issues, query_encoder=query_encoder,
                            user=user, vectorize=vectorize)


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[None]:
    """Connected to the cluster at ``options.address``, or to a local one started here (and stopped after);
    an existing connection of the caller's is used as it is."""
    try:
        import ray
    except ImportError:
        raise ExtraMissing("indexing on Ray needs the ray extra: pip install -e '.[ray]'") from None

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report
    logging.getLogger("ray").setLevel(logging.ERROR)  # Ray's start-up and progress lines: the CLI reports
    if ray.is_initialized():
        yield
        return
    env = {"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}}
    if options.address is None:
        ray.init(num_cpus=options.num_cpus, include_dashboard=False, runtime_env=env, log_to_driver=False,
                 logging_level=logging.ERROR)
    else:
        ray.init(address=options.address, runtime_env=env, log_to_driver=False, logging_level=logging.ERROR)
    _quiet_progress()
    try:
        yield
    finally:
        ray.shutdown()


def _quiet_progress() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


# ---- stage 1: files -> documents --------------------------------------------------------------
def read_corpus(root: Path, options: RayOptions,
                max_file_bytes: int = MAX_FILE_BYTES) -> tuple[list[Document], list[IngestIssue]]:
    """``ingest.load_corpus`` with the files read by Ray tasks: the same documents and issues."""
    import ray.data

    root = root.resolve()
    files = iter_corpus_files(root)
    if not files:
        return admit_all([])
    ds: Any = ray.data.from_items([{"order": i, "path": str(p)} for i, p in enumerate(files)],
                                  override_num_blocks=math.ceil(len(files) / options.files_per_task))
    ds = ds.map_batches(_read_files, fn_kwargs={"root": str(root), "max_bytes": max_file_bytes},
                        batch_size=options.files_per_task, num_cpus=1)
    results: dict[int, tuple[list[Document], list[IngestIssue]]] = {}
    for row in ds.iter_rows():
        docs = [Document.model_validate(d) for d in json.loads(row["docs"])]
        issues = [IngestIssue(**i) for i in json.loads(row["issues"])]
        results[int(row["order"])] = (docs, issues)
    return admit_all(results[i] for i in range(len(files)))


def _read_files(batch: dict[str, np.ndarray], root: str, max_bytes: int) -> dict[str, list[Any]]:
    """A Ray task: ``read_file`` on a batch of paths; documents and issues as JSON (one row per file)."""
    out: dict[str, list[Any]] = {"order": [], "docs": [], "issues": []}
    for order, path in zip(batch["order"], batch["path"], strict=True):
        docs, issues = read_file(Path(str(path)), Path(root), max_bytes)
        out["order"].append(int(order))
        out["docs"].append(json.dumps([d.model_dump(mode="json") for d in docs]))
        out["issues"].append(json.dumps([dataclasses.asdict(i) for i in issues]))
    return out


# ---- stage 2: documents -> chunks -> vectors ---------------------------------------------------
def embed_documents(docs: list[Document], cfg: ChunkingConfig, model_path: str, options: RayOptions,
                    kind: DocumentVectors = "fp32") -> Iterator[tuple[Document, list[Chunk], np.ndarray]]:
    """Each of ``docs`` with its chunks and their vectors (of ``kind``, the index's), chunked and embedded
    by Ray workers, yielded in the order of ``docs`` (a document waits only for those before it)."""
    import ray.data

    if not docs:
        return
    items = [{"order": i, "doc": d.model_dump_json()} for i, d in enumerate(docs)]
    # A block is a task's (or an actor call's) worth of documents: blocks, not rows, are spread over workers.
    ds: Any = ray.data.from_items(items, override_num_blocks=math.ceil(len(docs) / options.docs_per_task))
    ds = ds.map_batches(_chunk_documents, fn_kwargs={"model_path": model_path, "max_tokens": cfg.max_tokens,
                                                     "overlap": cfg.overlap},
                        batch_size=options.docs_per_task, num_cpus=1)
    threads = max(1, int(options.cpus_per_actor))
    ds = ds.map_batches(_embedding_actor(model_path, threads, kind), batch_size=options.batch_size,
                        num_cpus=options.cpus_per_actor, compute=ray.data.ActorPoolStrategy(size=options.concurrency))
    spans: dict[int, dict[int, tuple[int, int, np.ndarray]]] = {}  # document -> chunk position -> span, vector
    ready: dict[int, tuple[Document, list[Chunk], np.ndarray]] = {}
    next_out = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for j in range(len(batch["order"])):
            i, count = int(batch["order"][j]), int(batch["count"][j])
            got = spans.setdefault(i, {})
            if count:
                got[int(batch["n"][j])] = (int(batch["start"][j]), int(batch["end"][j]), batch["vector"][j])
            if len(got) == count:
                ready[i] = _assemble(docs[i], spans.pop(i))
        while next_out in ready:
            yield ready.pop(next_out)
            next_out += 1
    if next_out != len(docs):  # Ray lost rows without failing: never save a partial index as whole
        raise RuntimeError(f"the Ray pipeline returned {next_out} of {len(docs)} documents whole")


def _assemble(doc: Document, got: dict[int, tuple[int, int, np.ndarray]]) -> tuple[Document, list[Chunk], np.ndarray]:
    """The document's chunks in order (text sliced from the document: offsets exact) and their vectors."""
    rows = sorted(got.items())
    chunks = [Chunk(chunk_id=n, doc_id=doc.doc_id, start=s, end=e, text=doc.text[s:e]) for n, (s, e, _) in rows]
    vectors = np.stack([v for _, (_, _, v) in rows]).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
    return doc, chunks, vectors


@lru_cache(maxsize=4)
def _token_counter(model_path: str) -> Embedder:
    """One tokenizer per worker process and model (``Embedder`` loads the model only to encode)."""
    return Embedder(model_path)


def _chunk_documents(batch: dict[str, np.ndarray], model_path: str, max_tokens: int,
                     overlap: int) -> dict[str, list[Any]]:
    """A Ray task: ``chunk_document`` on a batch of documents; one row per chunk (a document without
    chunks gives one row of count 0, so that the driver knows it is done)."""
    counter = _token_counter(model_path)
    out: dict[str, list[Any]] = {k: [] for k in ("order", "n", "count", "start", "end", "text")}
    for order, raw in zip(batch["order"], batch["doc"], strict=True):
        doc = Document.model_validate_json(str(raw))
        chunks = chunk_document(doc, max_tokens, overlap, counter.count_tokens)
        rows = [(c.chunk_id, c.start, c.end, c.text) for c in chunks] or [(-1, 0, 0, "")]
        for n, start, end, text in rows:
            for key, value in zip(out, (int(order), n, len(chunks), start, end, text), strict=True):
                out[key].append(value)
    return out


def _embedding_actor(model_path: str, threads: int, kind: DocumentVectors) -> type:
    """The actor class with its arguments built in (constructor arguments kept in Ray's object store
    could be lost before a restart, which Ray warns of)."""

    class EmbedChunks(_EmbedChunks):
        def __init__(self) -> None:
            super().__init__(model_path, threads, kind)

    return EmbedChunks


class _EmbedChunks:
    """A Ray actor: the embedding model, loaded once, encoding batches of chunk texts."""

    def __init__(self, model_path: str, threads: int, kind: DocumentVectors = "fp32") -> None:
        import torch

        torch.set_num_threads(threads)
        os.environ[ONNX_THREADS_ENV] = str(threads)  # the int8 encoder's session, made on first use
        self.embedder = Embedder(model_path)
        self.dim = self.embedder.dim
        self.kind = kind

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        real = [k for k, n in enumerate(batch["n"]) if n >= 0]
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if real:
            vectors[real] = self.embedder.encode_documents([texts[k] for k in real], self.kind)
        return {"order": batch["order"], "n": batch["n"], "count": batch["count"], "start": batch["start"],
                "end": batch["end"], "vector": vectors}
