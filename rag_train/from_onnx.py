"""A trainable fp32 checkpoint from a shipped int8 reader: dequantise ``model.int8.onnx`` back to weights.

Why: the fine-tuned fp32 weights of a stage live only in its run folder, which is gone on a fresh machine,
and remaking reader IV (the base of every later stage) costs about three hours of training. The int8 graph
in the repository (and every earlier one, through ``rag_train.previous``) holds the same weights to within
half a quantisation step, so a later stage or a model soup can start from it::

    python -m rag_train.from_onnx --commit e5982d4 --out ~/runs/viii   # reader VIII as committed then
    python -m rag_train.from_onnx rag/models/reader-minilm --out ~/runs/ix  # or any reader folder
    python -m rag_train.soup --out ~/runs/soup ~/runs/viii/final ~/runs/ix/final

Each ``MatMulInteger`` weight of the graph is found by the name of its output (the exporter names it after
the module, e.g. ``/bert/encoder/layer.0/attention/self/query/MatMul``) and dequantised per output channel,
``(q - zero_point) * scale``, then transposed to torch's ``[out, in]``; biases and LayerNorm weights are
stored in fp32 and copied; the three embedding tables are dequantised per tensor. The word-embedding
matrix is frozen during training (``--train-word-embeddings`` is off by default), so when the packaged
base model's matrix quantises to exactly the stored integers, the base's fp32 matrix is used instead of
its coarser dequantised copy. ``<out>/train_meta.json`` is the source's recorded run
(``eval_report.json``) plus ``from_onnx``: the source, where the word embeddings came from, and the
command that made it (the model card of a soup quotes it).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rag.files import atomic_write_bytes

ONNX_FILE = "model.int8.onnx"
COPIED = ("tokenizer.json", "tokenizer_config.json")
EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")
# "/bert/encoder/layer.0/attention/self/query/MatMul_output_0_output_quantized" -> the module's path
_MATMUL = re.compile(r"^/(?P<module>.+)/MatMul_output_0_output_quantized$")


class DequantError(ValueError):
    """The graph is not a dynamically quantised BERT reader as ``rag_train.export`` writes it."""


def load_graph(onnx_path: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """The graph at ``onnx_path`` and its stored tensors by name, loaded once for the functions below."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    return graph, {i.name: numpy_helper.to_array(i) for i in graph.initializer}


def _dequantise(inits: dict[str, np.ndarray], stem: str) -> np.ndarray:
    """``(q - zero_point) * scale`` of the quantised initializer ``stem`` (per tensor or per channel)."""
    try:
        q, zero, scale = (inits[f"{stem}_{part}"].astype(np.float32) for part in ("quantized", "zero_point", "scale"))
    except KeyError as e:
        raise DequantError(f"no quantised initializer {stem} ({e})") from None
    return (q - zero) * scale


def dequantised_state(onnx_path: Path) -> dict[str, np.ndarray]:
    """Every weight of the reader graph at ``onnx_path`` as fp32, named as in ``BertForQuestionAnswering``."""
    return _state(*load_graph(onnx_path))


def _state(graph: Any, inits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``dequantised_state`` of a graph already loaded (``load_graph``)."""
    state: dict[str, np.ndarray] = {name: arr for name, arr in inits.items()
                                    if name.endswith((".weight", ".bias")) and arr.dtype == np.float32}
    for table in EMBEDDINGS:
        key = f"bert.embeddings.{table}.weight"
        state[key] = _dequantise(inits, key)
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        m = _MATMUL.match(node.output[0])
        if m is None:
            raise DequantError(f"cannot name the weight of MatMulInteger {node.output[0]!r}")
        module = m.group("module").replace("/", ".")
        wname = node.input[1]
        if not wname.endswith("_quantized"):
            raise DequantError(f"{module}: weight {wname!r} is not a quantised initializer")
        w = _dequantise(inits, wname[: -len("_quantized")])  # [in, out]
        state[f"{module}.weight"] = np.ascontiguousarray(w.T)  # torch Linear: [out, in]
    return state


def frozen_word_embeddings(inits: dict[str, np.ndarray], base_weights: np.ndarray) -> bool:
    """Whether ``base_weights`` quantise to exactly the graph's stored word-embedding integers (then the
    matrix was frozen in training and the base's fp32 values are the trained ones). The export quantises
    the fp16 copy of the weights (``export_fp16``), so the base is rounded to fp16 first."""
    stem = "bert.embeddings.word_embeddings.weight"
    q = inits[f"{stem}_quantized"]
    if base_weights.shape != q.shape:
        return False
    zero = inits[f"{stem}_zero_point"].astype(np.int32)
    lo, hi = np.iinfo(q.dtype).min, np.iinfo(q.dtype).max
    as_exported = base_weights.astype(np.float16).astype(np.float32)
    requant = np.clip(np.rint(as_exported / inits[f"{stem}_scale"]) + zero, lo, hi).astype(q.dtype)
    return bool(np.array_equal(requant, q))


def base_word_embeddings() -> np.ndarray:
    """The packaged all-MiniLM-L6-v2's word-embedding matrix (fp32)."""
    from safetensors.numpy import load_file

    from rag_train.reader import base_model_path

    state = load_file(str(Path(base_model_path()) / "model.safetensors"))
    for key in ("embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight"):
        if key in state:
            return state[key].astype(np.float32)
    raise DequantError("the packaged base model has no word-embedding matrix")


def write_checkpoint(src: Path, out: Path, command: str | None = None) -> Path:
    """``<out>/final``: the reader folder ``src`` (shipped layout) as an fp32 Hugging Face checkpoint, and
    ``<out>/train_meta.json`` (``command``: how to remake it, recorded for the model card); returns the
    ``final`` folder."""
    import torch
    from safetensors.torch import save
    from transformers import AutoConfig, AutoModelForQuestionAnswering

    onnx_path = src / ONNX_FILE
    if not onnx_path.exists():
        raise DequantError(f"{src}: no {ONNX_FILE}")
    graph, inits = load_graph(onnx_path)
    try:
        state = _state(graph, inits)
    except DequantError as e:
        raise DequantError(f"{onnx_path}: {e}") from None
    base = base_word_embeddings()
    frozen = frozen_word_embeddings(inits, base)
    if frozen:
        state["bert.embeddings.word_embeddings.weight"] = base
    config = AutoConfig.from_pretrained(src)
    config.dtype = "float32"
    model = AutoModelForQuestionAnswering.from_config(config)
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state and not k.endswith("position_ids"))
    extra = sorted(k for k in state if k not in expected)
    if missing or extra:
        raise DequantError(f"{src}: weights do not match BertForQuestionAnswering (missing {missing[:3]}, "
                           f"unexpected {extra[:3]})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise DequantError(f"{src}: {k} has shape {v.shape}, the model wants {tuple(expected[k].shape)}")
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    tensors = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sorted(state.items())}
    atomic_write_bytes(final / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    config.save_pretrained(final)
    for name in COPIED:
        shutil.copy(src / name, final / name)
    meta = _source_meta(src)
    meta["from_onnx"] = {
        "source": str(src),
        "word_embeddings": "the packaged base model's (frozen in training)" if frozen else "dequantised",
        "command": command or f"python -m rag_train.from_onnx {src} --out {out}",
    }
    atomic_write_bytes(out / "train_meta.json", json.dumps(meta, indent=2).encode())
    return final


def _source_meta(src: Path) -> dict[str, Any]:
    """The run record a shipped reader carries in its ``eval_report.json`` (empty when it has none)."""
    report = src / "eval_report.json"
    if not report.exists():
        return {}
    meta: dict[str, Any] = dict(json.loads(report.read_text()).get("train_meta") or {})
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("src", type=Path, nargs="?", help="a reader folder with model.int8.onnx "
                   "(e.g. rag/models/reader-minilm)")
    p.add_argument("--commit", help="instead of SRC: the reader committed at this commit (rag_train.previous), "
                   "written to <out>/source")
    p.add_argument("--out", type=Path, required=True, help="run folder: writes <out>/final and train_meta.json")
    args = p.parse_args(argv)
    if (args.src is None) == (args.commit is None):
        p.error("give a reader folder or --commit, not both")
    src, command = args.src, None
    try:
        if args.commit:
            from rag_train.previous import write_previous

            src = write_previous(args.out / "source", args.commit)
            command = f"python -m rag_train.from_onnx --commit {args.commit} --out {args.out}"
        final = write_checkpoint(src, args.out, command)
    except (DequantError, FileNotFoundError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
