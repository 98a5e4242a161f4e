"""The public API: build or open an index, then ``ask`` and ``retrieve``.

    from rag import Assistant
    qa = Assistant.build("seeds", index_dir="index")
    ans = qa.ask("Who is NATO's supreme allied commander?")

An ``Assistant`` is safe to share between threads: reads take a snapshot of the current index, and
updates (``update``, ``delete``) swap in a new snapshot under a lock once it is saved.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.answer import Answerer, AnswerSettings, SpanAnswerer, candidates_of
from rag.changes import Change, recent_changes, record_change, record_indexing
from rag.embedding import Embedder, TextEmbedder
from rag.errors import EmptyQuestion, UnknownDocument
from rag.followup import resolve
from rag.indexer import IndexReport, Progress, add_files, check_compatible, index_lock, update_index
from rag.reader import ReaderUnavailable
from rag.retriever import DocFilter, Retriever
from rag.schema import Answer, Document, Passage, Span, Turn
from rag.sentence_answer import SentenceAnswerer
from rag.store import ChunkingConfig, IndexStore
from rag.trash import Trash, TrashEntry

if TYPE_CHECKING:
    from rag.distributed import RayOptions

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
DEFAULT_READER = "default"


def clean_question(question: str) -> tuple[str, str | None]:
    """The question made safe to process, and a notice when it had to be changed."""
    if not isinstance(question, str):
        raise EmptyQuestion("the question must be text")
    q = unicodedata.normalize("NFC", question)
    q = "".join(" " if unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} else ch for ch in q)
    q = " ".join(q.split())
    if not q:
        raise EmptyQuestion("the question is empty")
    notice = None
    if len(q) > MAX_QUESTION_CHARS:
        q = q[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0] or q[:MAX_QUESTION_CHARS]
        notice = f"question truncated to its first {len(q):,} characters (limit {MAX_QUESTION_CHARS:,})"
    return q, notice


def load_answerer(reader: str | None, embedder: TextEmbedder) -> Answerer:
    """The answering component for ``reader``: the span reader ("default", a path or a hub id) with its
    own settings, or the sentence fallback ("sentence", or when the default reader is not installed)."""
    if reader is None or reader in {"none", "sentence"}:
        return SentenceAnswerer(embedder)
    from rag.reader import SpanReader

    if reader == DEFAULT_READER:
        try:
            return SpanAnswerer(SpanReader.load(None))
        except ReaderUnavailable as e:
            log.warning("no reader model (%s); answering with the sentence fallback", e)
            return SentenceAnswerer(embedder)
    return SpanAnswerer(SpanReader.load(reader))


@dataclass(frozen=True)
class _Snapshot:
    store: IndexStore
    retriever: Retriever


def _scope(documents: dict[str, Document], doc_ids: list[str] | None, where: DocFilter | None) -> list[str] | None:
    """The article ids a question may be answered from (None: all)."""
    if where is None or not where.active:
        return doc_ids
    unknown = [d for d in doc_ids or [] if d not in documents]
    if unknown:
        raise UnknownDocument(f"no document {unknown[0]!r} in the index")
    return where.doc_ids(documents, doc_ids)


class Assistant:
    """Question answering over one index folder."""

    def __init__(self, index_dir: str | Path, embedder: TextEmbedder, reader: str | None = DEFAULT_READER) -> None:
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        embedder.use_query_encoder()  # ONNX questions: no torch on the ask path (loads while the index opens)
        self._reader_spec = reader
        self._answerer: Answerer | None = None
        self._reader_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._background: list[threading.Thread] = []
        self._snap = self._load_snapshot()

    # ---- construction ----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: str | Path = "seeds",
        index_dir: str | Path = "index",
        *,
        model: str | None = None,
        reader: str | None = DEFAULT_READER,
        max_tokens: int = 200,
        overlap: int = 1,
        rebuild: bool = False,
        approx_threshold: int | None = None,
        progress: Progress | None = None,
        show_progress_bar: bool = False,
        ray: RayOptions | None = None,
    ) -> Assistant:
        """Index ``corpus`` into ``index_dir`` (only what changed), then open it. With ``ray``, reading,
        chunking and embedding run on a Ray cluster (``rag.distributed``; the ``ray`` extra)."""
        embedder = Embedder(model)
        chunking = ChunkingConfig(max_tokens=max_tokens, overlap=overlap)
        if ray is not None:
            from rag.distributed import ray_update_index

            report = ray_update_index(corpus, index_dir, embedder, chunking, options=ray, rebuild=rebuild,
                                      approx_threshold=approx_threshold, progress=progress)
        else:
            report = update_index(corpus, index_dir, embedder, chunking, rebuild=rebuild,
                                  approx_threshold=approx_threshold, progress=progress,
                                  show_progress_bar=show_progress_bar)
        qa = cls(index_dir, embedder, reader)
        qa.last_report = report
        return qa

    @classmethod
    def open(cls, index_dir: str | Path = "index", *, model: str | None = None,
             reader: str | None = DEFAULT_READER) -> Assistant:
        """Open an existing index; its manifest names the embedding model unless ``model`` is given."""
        manifest = IndexStore.read_manifest(index_dir)
        embedder = Embedder(model or manifest.embedding_model)
        return cls(index_dir, embedder, reader)

    last_report: IndexReport | None = None
    # Up to this many chunks, BM25 is rebuilt at once after ``add`` / ``delete`` (100,000 chunks: ~9 s).
    lexical_rebuild_sync_max: int = 20_000

    def _load_snapshot(self) -> _Snapshot:
        store = IndexStore.open(self.index_dir)
        check_compatible(store, self.embedder, None)
        return _Snapshot(store, Retriever(store, self.embedder))

    # ---- the answering component -----------------------------------------------------------
    @property
    def answerer(self) -> Answerer:
        """The answering component (loaded on first use): the span reader's, or the sentence fallback."""
        if self._answerer is None:
            with self._reader_lock:
                if self._answerer is None:
                    self._answerer = load_answerer(self._reader_spec, self.embedder)
        return self._answerer

    @property
    def settings(self) -> AnswerSettings:
        """The answering rule ``ask`` applies when given no overrides (the reader's own)."""
        return self.answerer.settings

    @property
    def answerer_name(self) -> str:
        """``"reader"`` or ``"sentence"``."""
        return self.answerer.name

    # ---- library ---------------------------------------------------------------------------
    @property
    def corpus_dir(self) -> Path | None:
        c = self._snap.store.manifest.corpus
        return Path(c) if c else None

    def documents(self) -> list[Document]:
        """Every indexed document, in id order."""
        docs = self._snap.store.documents
        return [docs[k] for k in sorted(docs)]

    def document(self, doc_id: str) -> Document:
        try:
            return self._snap.store.documents[doc_id]
        except KeyError:
            raise UnknownDocument(f"no document {doc_id!r} in the index") from None

    def chunk_count(self, doc_id: str) -> int:
        entry = self._snap.store.manifest.documents.get(doc_id)
        return len(entry.chunk_ids) if entry else 0

    def update(self, corpus: str | Path | None = None, progress: Progress | None = None,
               user: str | None = None) -> IndexReport:
        """Re-index the corpus folder (by default the one the index was built from) and reload."""
        with self._write_lock:
            corpus = corpus or self.corpus_dir
            if corpus is None:
                raise ValueError("this index records no corpus folder; pass one")
            report = update_index(corpus, self.index_dir, self.embedder, None, progress=progress, user=user)
            self._snap = self._load_snapshot()
            return report

    def add(self, paths: Sequence[str | Path], progress: Progress | None = None,
            user: str | None = None) -> IndexReport:
        """Index files just placed in the corpus folder (what a web upload runs), in place of ``update``;
        recorded as an upload in ``changes()``.

        Only those files are read; the open index is changed in a copy and saved, and BM25 is not
        rebuilt over the whole collection before returning (see ``Retriever.updated``), so the cost does
        not grow with the collection's size beyond saving it. Readers see the old snapshot until the
        new one is swapped in.
        """
        return self._add(paths, progress, record=True, user=user)

    def _add(self, paths: Sequence[str | Path], progress: Progress | None = None, record: bool = False,
             user: str | None = None) -> IndexReport:
        with self._write_lock:
            snap = self._snap
            report, store = add_files([Path(p) for p in paths], self.index_dir, self.embedder,
                                      store=snap.store.copy(), progress=progress)
            changed = report.added + report.updated
            if record:  # once saved, before readers see it
                paths_of = {d: store.documents[d].path for d in changed}
                record_indexing(self.index_dir, "upload", report.added, report.updated, [], paths_of, user)
            added = [c for d in changed for c in store.manifest.documents[d].chunk_ids]
            self._swap(snap, store, added)
            return report

    def _swap(self, old: _Snapshot, store: IndexStore, added: list[int]) -> None:
        """Make ``store`` (a changed copy of ``old.store``, or one re-opened from disk) the current snapshot.

        Small collections get a fresh BM25 index at once; large ones reuse the old one plus a small one
        for ``added``, and a full one is built in the background and swapped in when ready.
        """
        if store.manifest.generation == old.store.manifest.generation:
            return  # nothing was saved
        fresh = store.manifest.generation != old.store.manifest.generation + 1  # re-opened: ids may differ
        if fresh or len(store.chunks) <= self.lexical_rebuild_sync_max:
            self._snap = _Snapshot(store, Retriever(store, self.embedder))
            return
        self._snap = _Snapshot(store, old.retriever.updated(store, added))

        def rebuild() -> None:
            full = Retriever(store, self.embedder)
            with self._write_lock:
                if self._snap.store is store:
                    self._snap = _Snapshot(store, full)

        thread = threading.Thread(target=rebuild, name="bm25-rebuild", daemon=True)
        self._background.append(thread)
        thread.start()

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Wait for background BM25 rebuilds (after ``add`` or ``delete`` on a large index); True when done."""
        for thread in list(self._background):
            thread.join(timeout)
        self._background = [t for t in self._background if t.is_alive()]
        return not self._background

    def delete(self, doc_id: str, user: str | None = None) -> TrashEntry | None:
        """Remove an article from the index, recoverably: its file (and identical copies) move to the
        corpus folder's trash, or, when the file holds other articles too, a tombstone excludes it. Returns
        the trash entry (None for an index without a corpus folder). ``restore`` undoes it."""
        with self._write_lock, index_lock(self.index_dir):
            snap = self._snap
            store = snap.store.copy() if snap.store.is_current() else IndexStore.open(self.index_dir)
            if doc_id not in store.documents:
                raise UnknownDocument(f"no document {doc_id!r} in the index")
            doc = store.documents[doc_id]
            entry = self._to_trash(store, doc, user)
            store.remove_documents([doc_id])
            store.save()
            self._swap(snap, store, [])
        record_change(self.index_dir, "delete", doc_id, doc.path, user)
        return entry

    def _to_trash(self, store: IndexStore, doc: Document, user: str | None) -> TrashEntry | None:
        corpus = Path(store.manifest.corpus).resolve() if store.manifest.corpus else None
        if corpus is None or not doc.path:
            return None
        trash = Trash(corpus)
        used = {d.path for d in store.documents.values() if d.doc_id != doc.doc_id}
        src = (corpus / doc.path).resolve()
        if doc.path in used or not src.is_file() or not src.is_relative_to(corpus):
            return trash.put_tombstone(doc.doc_id, doc.title, doc.path, user)
        copies = [a for a in doc.aliases if a not in used and (corpus / a).is_file()
                  and (corpus / a).resolve().is_relative_to(corpus)]
        return trash.put_files(doc.doc_id, doc.title, [doc.path, *copies], user)

    def changes(self, n: int = 20) -> list[Change]:
        """The last ``n`` changes to this library (uploads, deletes, restores, re-indexing), newest first."""
        return recent_changes(self.index_dir, n)

    def trash(self) -> Trash:
        """The trash of the corpus folder this index was built from."""
        if self.corpus_dir is None:
            raise ValueError("this index records no corpus folder, so it has no trash")
        return Trash(self.corpus_dir)

    def restore(self, key: str, user: str | None = None) -> IndexReport:
        """Undo a ``delete``: the trash entry (its id, or the article's id for its latest deletion) goes
        back to the corpus folder and is indexed again."""
        with self._write_lock:
            trash = self.trash()
            entry = trash.restore(key)
            report = self._add([trash.corpus / p for p in entry.paths[:1 if entry.kind == "tombstone" else None]])
        record_change(self.index_dir, "restore", entry.doc_id, entry.paths[0], user)
        return report

    # ---- questions -------------------------------------------------------------------------
    def retrieve(self, question: str, k: int = 10, doc_ids: list[str] | None = None,
                 where: DocFilter | None = None) -> list[Passage]:
        """The ``k`` passages most related to ``question``, best first, from the articles ``doc_ids`` and
        ``where`` (publication dates, sources) allow."""
        q, _ = clean_question(question)
        snap = self._snap
        return snap.retriever.retrieve(q, k=k, doc_ids=_scope(snap.store.documents, doc_ids, where))

    def rerank(self, question: str, passages: list[Passage], settings: AnswerSettings | None = None
               ) -> list[Passage]:
        """``passages`` as ``ask``'s second stage orders them (``AnswerSettings.rerank_depth``): by retrieval
        score plus the reader's evidence that each holds an answer. Needs a span reader."""
        return self._span_answerer().rerank(question, passages, settings)

    def read(self, question: str, passages: list[Passage],
             settings: AnswerSettings | None = None) -> tuple[list[Span], float]:
        """What ``ask`` decides on: the reader's candidate spans in ``passages``, re-scored by how much of
        the question their sentence holds, best first, and the no-answer score. Needs a span reader."""
        return self._span_answerer().read(question, passages, self._snap.store.documents, settings)

    def _span_answerer(self) -> SpanAnswerer:
        """The span reader's answerer, which ``read`` and ``rerank`` need."""
        if not isinstance(self.answerer, SpanAnswerer):
            raise ReaderUnavailable("this assistant answers with the sentence fallback: no span reader")
        return self.answerer

    def ask(self, question: str, top_k: int | None = None, doc_ids: list[str] | None = None,
            threshold: float | None = None, settings: AnswerSettings | None = None,
            where: DocFilter | None = None, history: Sequence[Turn | Answer] = ()) -> Answer:
        """A short verbatim answer with citations, or ``text=None`` when the articles do not say.

        ``settings`` replaces the answering rule (default: ``self.settings``); ``top_k`` and ``threshold``
        override single values of it (threshold 0 never abstains: the best candidate is returned).
        ``doc_ids`` and ``where`` (publication dates, sources) limit the articles it answers from.
        ``history`` is the conversation so far (earlier turns or their answers, oldest first): a follow-up
        question is resolved against its last turn (``rag.followup``), and ``Answer.resolved_question``
        says how it was read. When the answer is "unsure" and ``settings.unsure_top_k`` exceeds ``top_k``,
        the candidates shown come from that many passages (read again; the decision is not changed).
        """
        q, notice = clean_question(question)
        turns = [h if isinstance(h, Turn) else Turn.of(h) for h in history]
        res = resolve(q, turns)
        s = (settings or self.settings).override(top_k=top_k, threshold=threshold)
        snap = self._snap
        scope = _scope(snap.store.documents, doc_ids, where)
        if scope == [] and where is not None and where.active:
            notice = "; ".join(x for x in (notice, "no article matches the date or source filter") if x)
        qvec = self.embedder.encode_query(res.search)
        reader = self.answerer if isinstance(self.answerer, SpanAnswerer) else None
        staged = reader is not None and s.reranks
        passages = snap.retriever.retrieve(res.search, k=s.retrieve_k if staged else s.top_k, doc_ids=scope,
                                           query_vector=qvec)
        if staged and reader is not None:
            passages = reader.rerank(res.question, passages, s)
        ans = self.answerer.answer(res.question, passages[: s.top_k], snap.store.documents, s, qvec)
        if (ans.status == "unsure" and s.unsure_top_k is not None and s.unsure_top_k > s.top_k
                and reader is not None):
            # not sure: look further for the candidates shown; the decision stays the top_k one
            wider = passages[: s.unsure_top_k] if len(passages) >= s.unsure_top_k else snap.retriever.retrieve(
                res.search, k=s.unsure_top_k, doc_ids=scope, query_vector=qvec)
            spans, _ = reader.read(res.question, wider, snap.store.documents, s)
            ans = ans.model_copy(update={"candidates": candidates_of(spans, snap.store.documents, s)})
        update: dict[str, object] = {"question": q}
        if staged:
            update["passages"] = passages  # all the second stage ordered, shown; the first top_k were read
        if res.rule:  # read as a follow-up (the words may be the same: then only retrieval used the history)
            update["resolved_question"] = res.question
        if notice:
            update["notice"] = notice
        return ans.model_copy(update=update)
