"""Real embeddings for the scale benchmark, replicated to any size with small perturbations.

How the vectors are made (documented in docs/benchmarks.md):

1. Base passages: every paragraph of SQuAD v1.1 dev-a (1,065) and every sentence of those paragraphs
   (split with ``rag.chunking.split_sentences``), encoded once with the product's embedding model
   (sentence-transformers all-MiniLM-L6-v2, unit length). Queries: SQuAD v1.1 dev-a questions (a fixed
   random sample), encoded the same way. Both are cached in ``.cache/bench/scale/`` (git-ignored).
2. Corpus of size N: row ``i`` is base vector ``i mod B``; the first ``B`` rows are the base vectors
   themselves, every later row is ``normalise(base + sigma * g)`` with ``g`` standard Gaussian noise
   (384 dims) drawn from a generator seeded by (seed, block), so any row range can be regenerated
   identically without keeping the corpus in memory. ``sigma`` defaults to 0.02: a replica keeps a
   cosine of about 0.93 with its base vector (1 / sqrt(1 + 384 sigma^2)), so replicas of one passage
   are near neighbours of each other but not duplicates, and exact search has to tell them apart.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bench.common import DEV_A, cache_dir

BLOCK = 65_536
DEFAULT_SIGMA = 0.02


def _texts(path: Path, n_queries: int, seed: int, limit: int | None) -> tuple[list[str], list[str]]:
    from eval.datasets import load_squad
    from rag.chunking import split_sentences

    ds = load_squad(path)
    base: list[str] = []
    for d in ds.documents[:limit]:
        text = d["text"]
        base.append(text)
        base.extend(text[s:e] for s, e in split_sentences(text) if e - s > 20)
    questions = [q.question for q in ds.questions]
    picked = random.Random(seed).sample(range(len(questions)), min(n_queries, len(questions)))
    return base, [questions[i] for i in sorted(picked)]


def real_embeddings(n_queries: int = 1000, seed: int = 0, path: Path = DEV_A, cache: Path | None = None,
                    limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(base passage vectors, query vectors), unit-length float32, encoded once and cached;
    ``limit``: the first paragraphs only (smoke tests)."""
    cache = cache or cache_dir() / "scale"
    key = hashlib.sha256(f"{path.name}:{path.stat().st_size}:{n_queries}:{seed}:{limit}".encode()).hexdigest()[:12]
    f = cache / f"embeddings-{key}.npz"
    if f.is_file():
        data = np.load(f)
        return data["base"], data["queries"]
    from rag.embedding import Embedder

    base_texts, query_texts = _texts(path, n_queries, seed, limit)
    emb = Embedder()
    base = emb.encode(base_texts, progress=False)
    queries = emb.encode(query_texts, progress=False)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f".{f.name}.tmp.npz")
    np.savez(tmp, base=base, queries=queries)
    tmp.replace(f)
    (cache / f"embeddings-{key}.json").write_text(json.dumps(
        {"source": str(path), "base": len(base_texts), "queries": len(query_texts), "seed": seed, "limit": limit}))
    return base, queries


def blocks(base: np.ndarray, n: int, sigma: float = DEFAULT_SIGMA, seed: int = 0,
           block: int = BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, vectors) blocks of the size-``n`` corpus, deterministic for (base, sigma, seed)."""
    b = len(base)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = np.arange(start, stop)
        vecs = base[rows % b].astype(np.float32, copy=True)
        noisy = rows >= b
        if noisy.any():
            rng = np.random.default_rng([seed, start // block])
            vecs[noisy] += sigma * rng.standard_normal((int(noisy.sum()), base.shape[1]), dtype=np.float32)
            vecs[noisy] /= np.linalg.norm(vecs[noisy], axis=1, keepdims=True)
        yield start, vecs


def exact_topk(base: np.ndarray, n: int, queries: np.ndarray, k: int = 10, sigma: float = DEFAULT_SIGMA,
               seed: int = 0) -> np.ndarray:
    """Row ids of the exact top-``k`` inner products for each query over the size-``n`` corpus."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start, vecs in blocks(base, n, sigma, seed):
        scores = queries @ vecs.T
        cat_s = np.concatenate([best_s, scores], axis=1)
        cat_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + len(vecs)), scores.shape)], axis=1)
        top = np.argpartition(-cat_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(cat_s, top, axis=1)
        best_i = np.take_along_axis(cat_i, top, axis=1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, axis=1)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the exact top-k found among the returned top-k."""
    k = truth.shape[1]
    hits = [len(set(f[f >= 0].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))
