"""Extractive span reader: finds exact answer spans in retrieved passages.

``SpanReader.load()`` loads our shipped checkpoint (``rag/models/reader-minilm``, found through the
package path, never downloaded); ``SpanReader.load("path/or/hub-id")`` loads any Hugging Face
extractive-QA checkpoint through the same code.  ``read`` windows every passage (max length / stride),
runs all windows in a few batched forward passes and returns de-duplicated candidate spans in document
offsets plus an overall no-answer score.

Scores: inside one window the model's start and end logits give every valid span (start <= end, at
most ``max_answer_tokens`` long) the joint logit ``start + end``; a softmax over all valid spans and the
no-answer option (both at [CLS]) turns them into probabilities that sum to one per window.  A span's
score is its probability, times its passage's retrieval weight ``exp(beta * (cos - best cos))`` when
``read`` is given a ``passage_weight`` beta, so that spans of different passages compare (1 for the best passage);
a passage's no-answer score is the minimum over its windows (the passage may
hold the answer if any window does) and the overall no-answer score the minimum over all passages.
Whether to answer is not decided here: ``rag.answer`` holds the answering rule.

``passage_evidence`` gives, per passage, the log-odds of its best span against its no-answer option:
``ask``'s second stage orders the retrieved passages by it before reading the first of them, and the
logits of the last few (question, passage) pairs are kept so that reading them then runs no model.

Heavy imports (torch, transformers, onnxruntime) happen inside methods: ``import rag.reader`` is cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rag.schema import Passage, Span

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader-minilm"
READER_CONFIG = "reader_config.json"
ONNX_FILE = "model.int8.onnx"
_RECENT = 32  # (question, text) pairs whose logits are kept: a re-ordered question's passages, read again
_TINY = 1e-9

Backend = Literal["auto", "torch", "torch-int8", "onnx"]

__all__ = ["DEFAULT_MODEL_DIR", "ReaderUnavailable", "SpanReader", "normalize_answer"]


class ReaderUnavailable(RuntimeError):
    """No reader model could be loaded (missing files, not cached offline, broken checkpoint)."""


# ------------------------------------------------------------------------------- normalisation
_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """SQuAD official normalisation: lower-case, drop punctuation and articles, collapse white space."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


# ------------------------------------------------------------------------------------- config
@dataclass
class ReaderSettings:
    max_len: int = 256
    stride: int = 128  # token overlap between consecutive windows of one passage
    max_question_tokens: int = 64
    max_answer_tokens: int = 30
    n_best: int = 20  # start/end candidates considered per window
    batch_size: int = 32  # windows per forward pass
    backend: str = "torch"  # default backend when "auto" is requested

    @classmethod
    def from_dir(cls, path: Path) -> ReaderSettings:
        s = cls()
        f = path / READER_CONFIG
        if f.exists():
            data = json.loads(f.read_text(encoding="utf-8"))
            for k, v in data.items():
                if hasattr(s, k) and not k.startswith("_"):
                    setattr(s, k, type(getattr(s, k))(v))
        return s


@dataclass
class _Window:
    passage: int  # index of the passage this window slices
    ids: list[int]
    type_ids: list[int]
    offsets: list[tuple[int, int]]  # character offsets into the passage text (question tokens: into it)
    sequence_ids: list[int | None]  # 0 question, 1 passage, None special tokens
    special: list[int]  # 1 for special tokens


@dataclass
class _Cand:
    passage: int
    start: int  # local character offsets in passage.text
    end: int
    score: float


class SpanReader:
    """A span-extraction reader over ``Passage`` objects (thread-safe)."""

    def __init__(
        self,
        tokenizer: Any,
        runner: Any,
        settings: ReaderSettings,
        name: str,
        backend: str,
        input_names: Sequence[str],
        pad_id: int = 0,
        folder: Path | None = None,
    ) -> None:
        self._tok = tokenizer  # a ``tokenizers.Tokenizer`` (Rust), truncation and padding set here
        self._pad_id = pad_id
        self._run = runner  # callable: dict[str, np.ndarray] -> (start_logits, end_logits) as np arrays
        self.settings = settings
        self.name = name
        self.folder: Path | None = folder  # the model folder (its reader_config.json holds the answering rule)
        self.backend = backend
        self._input_names = tuple(input_names)
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._recent: OrderedDict[tuple[str, str], list[tuple[_Window, Any, Any]]] = OrderedDict()
        tokenizer.no_padding()
        tokenizer.enable_truncation(settings.max_len, stride=settings.stride, strategy="only_second")
        self._qtok = type(tokenizer).from_str(tokenizer.to_str())  # questions alone: no pair truncation
        self._qtok.no_truncation()

    # ---------------------------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        backend: Backend = "auto",
        threads: int | None = None,
    ) -> SpanReader:
        """Load a reader.  ``None``: our shipped model (offline).  A folder or a hub id otherwise.

        ``backend``: ``torch`` (fp32 compute), ``torch-int8`` (dynamic int8 quantisation of the linear
        layers), ``onnx`` (int8 ONNX Runtime, needs ``model.int8.onnx`` in the folder) or ``auto``
        (what ``reader_config.json`` says, else ``torch``).  Raises ``ReaderUnavailable``.
        """
        if name_or_path is None:
            path: Path | None = DEFAULT_MODEL_DIR
            if not (DEFAULT_MODEL_DIR / "config.json").exists():
                raise ReaderUnavailable(f"the default reader model is not installed at {DEFAULT_MODEL_DIR}")
            ident = str(DEFAULT_MODEL_DIR)
        else:
            ident = os.fspath(name_or_path)
            p = Path(ident).expanduser()
            path = p if p.exists() else None
            if path is not None and not (path / "config.json").exists():
                raise ReaderUnavailable(f"{path} is not a model folder (no config.json)")
        settings = ReaderSettings.from_dir(path) if path is not None else ReaderSettings()
        if backend == "auto":
            backend = settings.backend  # type: ignore[assignment]
            if backend == "onnx" and (path is None or not (path / ONNX_FILE).exists()):
                backend = "torch"
        try:
            local_only = path is not None or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
            config = _model_config(ident, path, local_only)
            tok = _rust_tokenizer(ident, path, local_only)
            max_pos = int(config.get("max_position_embeddings") or 512)
            # RoBERTa-style models reserve two positions for padding offsets.
            limit = max_pos - 2 if config.get("model_type") in ("roberta", "xlm-roberta") else max_pos
            settings.max_len = max(32, min(settings.max_len, limit))
            settings.stride = min(settings.stride, settings.max_len // 2)
            pad_id = int(config.get("pad_token_id") or 0)
            if backend == "onnx":
                if path is None:
                    raise ReaderUnavailable("the onnx backend needs a local folder")
                runner, names = _onnx_runner(path / ONNX_FILE, threads)
            else:
                runner, names = _torch_runner(ident, local_only, backend == "torch-int8", threads)
        except ReaderUnavailable:
            raise
        except Exception as e:  # missing files, not cached offline, unsupported architecture ...
            raise ReaderUnavailable(f"cannot load reader {ident!r}: {type(e).__name__}: {e}") from e
        return cls(tok, runner, settings, ident, backend, names, pad_id, path)

    # ----------------------------------------------------------------------------------- reading
    def read(self, question: str, passages: list[Passage], top_n: int = 5,
             passage_weight: float = 0.0) -> tuple[list[Span], float]:
        """Candidate spans (best first, de-duplicated, document offsets) and the no-answer score.

        ``passage_weight`` (beta, 0: none) scales each span's probability by its passage's retrieval
        weight ``exp(beta * (cos - best cos))`` so that spans of different passages compare."""
        question = " ".join(question.split())
        if not passages or not question:
            return [], 1.0
        texts = [p.text for p in passages]
        enc, start_logits, end_logits = self._logits(question, texts)
        if not enc:
            return [], 1.0
        cands, null_by_passage = self._decode(enc, start_logits, end_logits, texts)
        self._weigh_by_retrieval(cands, passages, passage_weight)
        spans = self._dedupe(cands, passages, null_by_passage, top_n)
        no_answer = min(null_by_passage) if null_by_passage else 1.0
        return spans, float(min(1.0, max(0.0, no_answer)))

    def passage_evidence(self, question: str, passages: list[Passage]) -> list[float]:
        """How strongly the reader finds an answer in each passage: the log-odds of its best span against its
        no-answer option, ``log(best) - log(no answer)`` (probabilities of one window, best window; no
        retrieval weight). Orders passages before reading (``AnswerSettings.rerank_depth``); reading the
        same passages with the same question right after runs no model again (``_logits`` keeps them)."""
        question = " ".join(question.split())
        texts = [p.text for p in passages]
        if not texts or not question:
            return [0.0] * len(texts)
        enc, starts, ends = self._logits(question, texts)
        cands, null_by_passage = self._decode(enc, starts, ends, texts)
        best = [0.0] * len(texts)
        for c in cands:
            best[c.passage] = max(best[c.passage], c.score)
        return [math.log(max(b, _TINY)) - math.log(max(n, _TINY)) for b, n in zip(best, null_by_passage, strict=True)]

    def _logits(self, question: str, texts: list[str]) -> tuple[list[_Window], Any, Any]:
        """Every window of ``texts`` (``_encode``) and its start and end logits (``_forward``). The windows and
        logits of the last ``_RECENT`` (question, text) pairs are kept, so a text read again with the same
        question (passages ordered by ``passage_evidence``, then the first of them read) runs no model."""
        import numpy as np

        q = self._truncate_question(question)
        with self._cache_lock:
            kept = {t: self._recent[(q, t)] for t in texts if (q, t) in self._recent}
        missing = [t for t in dict.fromkeys(texts) if t not in kept]
        fresh: dict[str, list[tuple[_Window, Any, Any]]] = {t: [] for t in missing}
        if missing:
            enc = self._encode(q, missing)
            starts, ends = self._forward(enc) if enc else (np.zeros((0, 0)), np.zeros((0, 0)))
            for w, win in enumerate(enc):
                k = len(win.ids)
                fresh[missing[win.passage]].append((win, starts[w, :k].copy(), ends[w, :k].copy()))
            with self._cache_lock:
                for t, rows in fresh.items():
                    self._recent[(q, t)] = rows
                    self._recent.move_to_end((q, t))
                while len(self._recent) > _RECENT:
                    self._recent.popitem(last=False)
        rows_of = [kept[t] if t in kept else fresh[t] for t in texts]
        out = [dataclasses.replace(win, passage=i) for i, rows in enumerate(rows_of) for win, _, _ in rows]
        if not out:
            return [], None, None
        width = max(len(w.ids) for w in out)
        starts_all = np.full((len(out), width), -1e4, dtype=np.float32)
        ends_all = np.full((len(out), width), -1e4, dtype=np.float32)
        r = 0
        for rows in rows_of:
            for win, s, e in rows:
                starts_all[r, : len(win.ids)] = s
                ends_all[r, : len(win.ids)] = e
                r += 1
        return out, starts_all, ends_all

    def _truncate_question(self, question: str) -> str:
        st = self.settings
        # Room for [CLS]/[SEP]x2 and more passage tokens than the window overlap.
        cap = max(1, min(st.max_question_tokens, st.max_len - st.stride - 3 - 8))
        offs = self._qtok.encode(question, add_special_tokens=False).offsets
        if len(offs) <= cap:
            return question
        return question[: offs[cap - 1][1]]

    def _encode(self, question: str, texts: list[str]) -> list[_Window]:
        """Every window of every text: (question, a slice of the text) within ``max_len`` tokens, windows
        of one text overlapping by ``stride`` tokens (the Rust tokenizer's overflow, as transformers does it)."""
        q = self._truncate_question(question)
        out: list[_Window] = []
        for i, enc in enumerate(self._tok.encode_batch([(q, t) for t in texts])):
            for e in (enc, *enc.overflowing):
                out.append(_Window(i, e.ids, e.type_ids, e.offsets, e.sequence_ids, e.special_tokens_mask))
        return out

    def _forward(self, enc: list[_Window]) -> tuple[Any, Any]:
        import numpy as np

        pad_id = self._pad_id
        ids_all = [w.ids for w in enc]
        tt_all = [w.type_ids for w in enc]
        n = len(ids_all)
        # sort by length so batches pad little
        order = sorted(range(n), key=lambda i: len(ids_all[i]))
        width = max(len(x) for x in ids_all)
        starts = np.full((n, width), -1e4, dtype=np.float32)
        ends = np.full((n, width), -1e4, dtype=np.float32)
        bs = max(1, self.settings.batch_size)
        with self._lock:
            for b0 in range(0, n, bs):
                idx = order[b0 : b0 + bs]
                L = max(len(ids_all[i]) for i in idx)
                ids = np.full((len(idx), L), pad_id, dtype=np.int64)
                am = np.zeros((len(idx), L), dtype=np.int64)
                tt = np.zeros((len(idx), L), dtype=np.int64)
                for r, i in enumerate(idx):
                    k = len(ids_all[i])
                    ids[r, :k] = ids_all[i]
                    am[r, :k] = 1
                    tt[r, :k] = tt_all[i]
                feed = {"input_ids": ids, "attention_mask": am}
                if "token_type_ids" in self._input_names:
                    feed["token_type_ids"] = tt
                s, e = self._run(feed)
                for r, i in enumerate(idx):
                    k = len(ids_all[i])
                    starts[i, :k] = s[r, :k]
                    ends[i, :k] = e[r, :k]
        return starts, ends

    def _decode(self, enc: list[_Window], starts: Any, ends: Any, texts: list[str]) -> tuple[list[_Cand], list[float]]:
        import numpy as np

        st = self.settings
        null_by_passage = [1.0] * len(texts)
        cands: list[_Cand] = []
        for w, win in enumerate(enc):
            pi = win.passage
            offsets = win.offsets
            ctx = np.array([s == 1 for s in win.sequence_ids], dtype=bool)
            if not ctx.any():
                continue
            cls_pos = win.special.index(1) if 1 in win.special else 0  # [CLS] / <s> opens the window
            ctx_idx = np.flatnonzero(ctx)
            sc = starts[w, ctx_idx].astype(np.float64)
            ec = ends[w, ctx_idx].astype(np.float64)
            null_logit = float(starts[w, cls_pos]) + float(ends[w, cls_pos])
            # joint logits of every valid span (start <= end, at most max_answer_tokens long)
            m = sc[:, None] + ec[None, :]
            n = len(ctx_idx)
            rel = np.arange(n)[None, :] - np.arange(n)[:, None]
            valid = (rel >= 0) & (rel < st.max_answer_tokens)
            m = np.where(valid, m, -np.inf)
            top = max(null_logit, float(m.max()))
            z = float(np.exp(m - top).sum()) + float(np.exp(null_logit - top))
            null = float(np.exp(null_logit - top)) / z
            null_by_passage[pi] = min(null_by_passage[pi], null)
            flat = m.ravel()
            n_keep = min(st.n_best, int(valid.sum()))
            best = np.argpartition(-flat, n_keep - 1)[:n_keep] if n_keep > 0 else np.array([], dtype=int)
            for f in best:
                i, j = divmod(int(f), n)
                s_tok, e_tok = int(ctx_idx[i]), int(ctx_idx[j])
                cs, ce = int(offsets[s_tok][0]), int(offsets[e_tok][1])
                if ce <= cs:
                    continue
                cs, ce = _whole_words(texts[pi], cs, ce)
                cands.append(_Cand(pi, cs, ce, float(np.exp(flat[f] - top)) / z))
        return cands, null_by_passage

    def _weigh_by_retrieval(self, cands: list[_Cand], passages: list[Passage], beta: float) -> None:
        """Scale each span's probability by its passage's retrieval weight, ``exp(beta * (cos - best cos))``.

        The reader's probabilities are normalised within one window, so a confident span in an off-topic
        passage can outscore the right one; weighting by the question-passage cosine (a softmax over the
        retrieved passages, relative to the best one) makes spans comparable across passages. The best
        passage keeps weight 1, so a single gold passage scores exactly as in validation.
        """
        cos = [p.dense_score for p in passages]
        known = [c for c in cos if c is not None]
        if beta <= 0 or len(known) < 2:
            return
        top = max(known)
        weight = [1.0 if c is None else math.exp(beta * (c - top)) for c in cos]
        for c in cands:
            c.score *= weight[c.passage]

    def _dedupe(
        self, cands: list[_Cand], passages: list[Passage], null_by_passage: list[float], top_n: int
    ) -> list[Span]:
        cands.sort(key=lambda c: -c.score)
        out: list[Span] = []
        seen_text: set[str] = set()
        taken: list[tuple[str, int, int]] = []  # (doc_id, start, end) in document offsets
        for c in cands:
            if len(out) >= top_n:
                break
            p = passages[c.passage]
            text = p.text[c.start : c.end]
            stripped = text.strip()
            if not stripped:
                continue
            lead = len(text) - len(text.lstrip())
            ls, le = c.start + lead, c.start + lead + len(stripped)
            key = normalize_answer(stripped) or stripped.lower()
            ds, de = p.start + ls, p.start + le
            if key in seen_text:
                continue
            if any(d == p.doc_id and ds < e2 and s2 < de for d, s2, e2 in taken):
                continue
            seen_text.add(key)
            taken.append((p.doc_id, ds, de))
            out.append(
                Span(
                    doc_id=p.doc_id,
                    chunk_id=p.chunk_id,
                    start=ds,
                    end=de,
                    text=p.text[ls:le],
                    score=min(1.0, max(0.0, c.score)),
                    no_answer_score=min(1.0, max(0.0, null_by_passage[c.passage])),
                )
            )
        return out


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` so it neither starts nor ends inside a word (sub-word tokens)."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    return start, end


# ------------------------------------------------------------------------------------ runners
def _torch_runner(ident: str, local_only: bool, int8: bool, threads: int | None) -> tuple[Any, list[str]]:
    import torch
    from transformers import AutoModelForQuestionAnswering

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForQuestionAnswering.from_pretrained(ident, local_files_only=local_only)
    model = model.float().eval()  # fp16 weights on disk; fp32 compute is the fast path on CPU
    if int8:
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    import inspect

    accepted = set(inspect.signature(model.forward).parameters)
    names: list[str] = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
    # Models without segment embeddings (RoBERTa, ...) take no token_type_ids.
    if getattr(model.config, "type_vocab_size", 2) in (0, 1):
        names = [n for n in names if n != "token_type_ids"]

    def run(feed: dict[str, Any]) -> tuple[Any, Any]:
        with torch.inference_mode():
            out = model(**{k: torch.from_numpy(v) for k, v in feed.items() if k in names})
        return out.start_logits.float().numpy(), out.end_logits.float().numpy()

    return run, names


def _onnx_runner(path: Path, threads: int | None) -> tuple[Any, list[str]]:
    import onnxruntime as ort

    if not path.exists():
        raise ReaderUnavailable(f"no ONNX model at {path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(feed: dict[str, Any]) -> tuple[Any, Any]:
        s, e = sess.run(["start_logits", "end_logits"], {k: v for k, v in feed.items() if k in names})
        return s, e

    return run, names


# ------------------------------------------------------------------------------------ loading
def _model_config(ident: str, path: Path | None, local_only: bool) -> dict[str, Any]:
    """The checkpoint's ``config.json`` (a folder's read directly; a hub id's through transformers)."""
    if path is not None:
        data = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    from transformers import AutoConfig

    return dict(AutoConfig.from_pretrained(ident, local_files_only=local_only).to_dict())


def _rust_tokenizer(ident: str, path: Path | None, local_only: bool) -> Any:
    """The fast (Rust) tokenizer: a folder's ``tokenizer.json`` through ``tokenizers`` alone (cheap: no
    transformers import), else transformers' fast tokenizer's backend."""
    if path is not None and (path / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(path / "tokenizer.json"))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ident, local_files_only=local_only)
    if not getattr(tok, "is_fast", False):
        raise ReaderUnavailable(f"{ident}: a fast tokenizer (offset mapping) is required")
    return tok.backend_tokenizer
