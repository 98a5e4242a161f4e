"""Shared fixtures: a fast fake embedder for unit tests, the real model for integration tests."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
STRICT = os.environ.get("RAG_STRICT_TESTS", "") not in ("", "0")  # CI: a skipped test is a failure
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"


class FakeEmbedder:
    """Hashed bag-of-words vectors: deterministic, instant, and similar for texts sharing words."""

    name = "fake/bag-of-words"
    dim = 64

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2

    def export_query_encoder(self, folder: object = None) -> bool:
        return False  # no fast question path: questions go through ``encode``

    def use_query_encoder(self, folder: object = None) -> bool:
        return False

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"[a-z0-9]+", t.lower()):
                h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
                out[i, h % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            out[i] = out[i] / n if n else out[i]
        return out

    def encode_documents(self, texts: list[str], kind: str, progress: bool = False) -> np.ndarray:
        return self.encode(texts, progress)  # one kind of vector whatever the index records

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def seeds_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "corpus"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture(scope="session")
def real_seeds_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(corpus copy, index folder) of the seeds built once with the real model."""
    from rag import Assistant

    base = tmp_path_factory.mktemp("seeds-index")
    corpus = base / "corpus"
    shutil.copytree(SEEDS, corpus)
    Assistant.build(corpus, index_dir=base / "index", reader=None)
    return corpus, base / "index"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With RAG_STRICT_TESTS=1 (``.ci/run``) a skip fails: CI must not pass without chromium, the shipped
    reader or ../shared/data just because the tests that need them skipped."""
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under RAG_STRICT_TESTS=1 (CI): {reason}"
