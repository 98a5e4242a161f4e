"""Does an int8 query encoder hold retrieval recall? fp32 ONNX against dynamic-int8 ONNX, one run.

    python -m bench.bench_query_encoder            # dev-a v1.1, tune and test articles

The int8 encoder is ``onnxruntime.quantization.quantize_dynamic`` (QInt8 weights, per channel) of the
model's fp32 query encoder in the user's cache, written under ``.cache/bench``. Passages stay as
indexed (sentence-transformers, fp32); only questions change. For each half of the dev-a article
split (``eval/splits/dev-a.json``; the decision is read on ``tune``, ``test`` is reported), on the
dev-a v1.1 paragraph corpus:

- recall@1/5/10 of the gold paragraph among the first distinct documents, hybrid (as shipped:
  ``Assistant.retrieve``) and dense alone (``IndexStore.search``);
- the cosine of each question's int8 vector to its fp32 vector;
- file size, session creation, SHA-256 of the file, and one-question encode latency (medians).

JSON to ``bench/results/query-encoder.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DEV_A, cache_dir, median, squad_corpus, summary_ms, write_result
from eval.datasets import load_squad
from eval.metrics import dedupe, recall_at
from eval.squad import read_article_split
from rag import Assistant
from rag.embedding import QUERY_ENCODER_META, Embedder, OnnxQueryEncoder, query_encoder_dir
from rag.files import atomic_write_bytes, file_sha256
from rag.store import IndexStore

SPLIT = Path(__file__).resolve().parents[1] / "eval" / "splits" / "dev-a.json"
KS = (1, 5, 10)


def int8_encoder(fp32: Path, out: Path) -> Path:
    """``fp32``'s query encoder with its ONNX graph dynamically quantised to int8, in ``out``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    meta = json.loads((fp32 / QUERY_ENCODER_META).read_text())
    out.mkdir(parents=True, exist_ok=True)
    onnx = out / "query-encoder.int8.onnx"
    quantize_dynamic(str(fp32 / meta["onnx"]["name"]), str(onnx), weight_type=QuantType.QInt8, per_channel=True)
    shutil.copyfile(fp32 / meta["tokenizer"]["name"], out / meta["tokenizer"]["name"])
    meta["onnx"] = {"name": onnx.name, "size": onnx.stat().st_size, "sha256": file_sha256(onnx)}
    meta.pop("check", None)
    atomic_write_bytes(out / QUERY_ENCODER_META, json.dumps(meta, indent=1).encode())
    return out


def recall(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    return {f"recall@{k}": round(100.0 * recall_at(ranked, gold, k), 2) for k in KS}


def costs(folder: Path, questions: list[str]) -> dict[str, Any]:
    """Size, SHA-256 time, session creation and one-question encode latency of one encoder."""
    meta = json.loads((folder / QUERY_ENCODER_META).read_text())
    onnx = folder / meta["onnx"]["name"]
    hashes, loads = [], []
    for _ in range(5):
        t = time.perf_counter()
        file_sha256(onnx)
        hashes.append(time.perf_counter() - t)
        enc = OnnxQueryEncoder(folder, meta)
        t = time.perf_counter()
        enc._load()  # noqa: SLF001 - the session creation is what is timed
        loads.append(time.perf_counter() - t)
    times = []
    for q in questions:
        t = time.perf_counter()
        enc.encode([q])
        times.append(time.perf_counter() - t)
    return {"mb": round(onnx.stat().st_size / 1e6, 1), "sha256_ms": round(1000 * median(hashes), 1),
            "session_ms": round(1000 * median(loads), 1), "encode_one": summary_ms(times)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEV_A)
    ap.add_argument("--latency-questions", type=int, default=300)
    args = ap.parse_args(argv)

    corpus, questions = squad_corpus(args.data)
    index_dir = corpus.parent / "index"
    qa = Assistant.build(corpus, index_dir=index_dir, reader="sentence")
    store = IndexStore.open(index_dir)
    titles = {d["id"]: d["title"] for d in load_squad(args.data).documents}
    split = read_article_split(SPLIT)
    embedder = qa.embedder
    assert isinstance(embedder, Embedder)
    fp32_dir = query_encoder_dir(embedder.name)
    variants = {"fp32": fp32_dir, "int8": int8_encoder(fp32_dir, cache_dir() / "query-encoder-int8")}
    encoders = {name: OnnxQueryEncoder.open(folder, embedder.name) for name, folder in variants.items()}

    result: dict[str, Any] = {"data": str(args.data), "split": str(SPLIT), "parts": {}}
    for part in ("tune", "test"):
        wanted = {t.replace("_", " ") for t in split[part]}
        qs = [q for q in questions if titles.get(q.doc_id or "", "").replace("_", " ") in wanted]
        gold = [q.doc_id or "" for q in qs]
        vecs, rows = {}, {}
        for name, enc in encoders.items():
            embedder.query_encoder = enc  # as Embedder.use_query_encoder would attach it
            vecs[name] = enc.encode([q.question for q in qs])  # type: ignore[union-attr]
            hybrid = [dedupe(p.doc_id for p in qa.retrieve(q.question, k=10))[:10] for q in qs]
            dense = [dedupe(store.chunks[c].doc_id for c, _ in store.search(v, 40))[:10] for v in vecs[name]]
            rows[name] = {"hybrid": recall(hybrid, gold), "dense": recall(dense, gold)}
        cos = np.sum(vecs["fp32"] * vecs["int8"], axis=1)
        rows["int8_vs_fp32_cosine"] = {"mean": round(float(cos.mean()), 5), "min": round(float(cos.min()), 5),
                                       "p01": round(float(np.percentile(cos, 1)), 5)}
        result["parts"][part] = {"questions": len(qs), **rows}
        print(part, json.dumps(result["parts"][part]), flush=True)
    sample = [q.question for q in questions[: args.latency_questions]]
    result["costs"] = {name: costs(folder, sample) for name, folder in variants.items()}
    print(json.dumps(result["costs"]), flush=True)
    write_result("query-encoder", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
