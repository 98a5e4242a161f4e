"""Shared helpers for the benchmark scripts: data sets, timing statistics, machine facts, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.files import atomic_write_bytes

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SEEDS = ROOT / "seeds"
SHARED_DATA = ROOT.parent / "shared" / "data"
DEV_A = SHARED_DATA / "squad-v1.1-dev-a.json"
DEV_A_V2 = SHARED_DATA / "squad-v2.0-dev-a.json"


def cache_dir() -> Path:
    """Where the benchmarks keep corpora, indexes and embeddings: ``$RAG_BENCH_CACHE`` or the git-ignored
    ``.cache/bench`` (never files of the repository)."""
    return Path(os.environ.get("RAG_BENCH_CACHE") or ROOT / ".cache" / "bench")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max of durations given in seconds, in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"),
        "max_ms": round(max(ms), 3) if ms else float("nan"),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def machine() -> dict[str, Any]:
    """The facts that make a figure comparable: cores, CPU model, memory, versions, and the load."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for mod in ("faiss", "numpy", "onnxruntime", "torch", "sentence_transformers", "bm25s"):
        try:
            from importlib.metadata import version

            dist = {"faiss": "faiss-cpu", "sentence_transformers": "sentence-transformers"}.get(mod, mod)
            versions[mod] = version(dist)
        except Exception:
            versions[mod] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
        "versions": versions,
    }


def write_result(name: str, data: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``data`` (plus the machine facts and a timestamp) to ``<out_dir>/<name>.json``."""
    out_dir = out_dir or RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), **data}
    path = out_dir / f"{name}.json"
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"))
    print(f"wrote {path}")
    return path


def squad_corpus(path: Path = DEV_A, limit: int | None = None) -> tuple[Path, list[Any]]:
    """(corpus folder, questions) for a SQuAD file: its paragraphs written once as one JSONL corpus
    under ``.cache/bench`` (never into the repository); ``limit`` keeps the first paragraphs only."""
    from eval.datasets import load_squad, write_corpus

    ds = load_squad(path)
    docs = ds.documents if limit is None else ds.documents[:limit]
    keep = {d["id"] for d in docs}
    folder = cache_dir() / f"{path.stem}{'' if limit is None else f'-{limit}'}" / "corpus"
    write_corpus(docs, folder)
    return folder, [q for q in ds.questions if q.doc_id in keep]


def ensure_index(corpus: Path, index_dir: Path) -> Path:
    """Index ``corpus`` into ``index_dir`` (incremental: a no-op when up to date); returns the folder."""
    from rag.embedding import Embedder
    from rag.indexer import update_index

    update_index(corpus, index_dir, Embedder())
    return index_dir


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default), in MB."""
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 1024 / 1024


def run_cmd(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kw)
