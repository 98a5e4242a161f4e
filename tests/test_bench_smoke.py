"""Smoke runs of every benchmark in bench/ at a tiny size: the commands work and write their JSON.

The real figures come from running the scripts by hand (docs/benchmarks.md); these only check that
each one still runs. Everything goes to a temporary cache and results folder, never into the repo.
``rag serve`` (Gradio start-up) is left out here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.slow

needs_squad = pytest.mark.skipif(not (SHARED_DATA / "squad-v1.1-dev-a.json").is_file(),
                                 reason="SQuAD dev-a is not in ../shared/data")


@pytest.fixture(scope="module")
def bench_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark cache shared by the tests of this module (the seeds index is built once)."""
    cache = tmp_path_factory.mktemp("bench-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("RAG_BENCH_CACHE", str(cache))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield cache
    mp.undo()


def _result(out: Path, name: str) -> dict:
    data = json.loads((out / f"{name}.json").read_text())
    assert data["machine"]["nproc"] >= 1 and data["command"].startswith("python -m bench.")
    return data


def test_bench_latency_smoke(bench_env: Path, tmp_path: Path) -> None:
    from bench import bench_latency

    assert bench_latency.main(["--corpora", "seeds", "--limit", "4", "--ask-limit", "2", "--repeat", "1",
                               "--reader", "sentence", "--out", str(tmp_path)]) == 0
    res = _result(tmp_path, "latency")["results"][0]
    assert res["query_encoder"] == "onnx"
    assert res["retrieve"]["n"] == 4 and res["retrieve"]["p50_ms"] > 0 and res["ask"]["n"] == 2


def test_bench_cold_smoke(bench_env: Path, tmp_path: Path) -> None:
    from bench import bench_cold

    assert bench_cold.main(["--corpus", "seeds", "--repeat", "1", "--reader", "sentence", "--no-serve",
                            "--out", str(tmp_path)]) == 0
    ask = _result(tmp_path, "cold")["ask"][0]
    assert ask["median_s"] > 0
    assert "torch" not in ask["heavy_modules_imported"]
    assert "sentence_transformers" not in ask["heavy_modules_imported"]


def test_bench_index_smoke(bench_env: Path, tmp_path: Path) -> None:
    from bench import bench_index

    assert bench_index.main(["--corpus", "seeds", "--repeat", "1", "--out", str(tmp_path)]) == 0
    res = _result(tmp_path, "index")
    assert res["chunks"] > 0 and res["index_chunks_per_s"] > 0 and res["plain_chunks_per_s"] > 0


@needs_squad
def test_bench_scale_smoke(bench_env: Path, tmp_path: Path) -> None:
    from bench import bench_scale

    assert bench_scale.main(["--sizes", "600", "3000", "--queries", "5", "--repeat", "1", "--nprobe", "4", "64",
                             "--base-limit", "15", "--per-doc", "100", "--approx-threshold", "1000",
                             "--out", str(tmp_path)]) == 0
    sizes = _result(tmp_path, "scale")["sizes"]
    assert [s["index_type"] for s in sizes] == ["flat", "ivf"]
    assert sizes[0]["recall@10"] == 1.0  # exact search agrees with exact search
    assert sizes[1]["by_nprobe"]["64"]["recall@10"] >= 0.9


@needs_squad
def test_bench_update_smoke(bench_env: Path, tmp_path: Path) -> None:
    from bench import bench_update

    assert bench_update.main(["--passages", "300", "--repeat", "1", "--base-limit", "15",
                              "--out", str(tmp_path)]) == 0
    res = _result(tmp_path, "update")
    assert res["index"]["passages"] == 300
    assert res["update_index"]["seconds"] > 0 and res["assistant_update"]["seconds"] > 0
    assert 0 < res["assistant_add"]["seconds"] <= res["assistant_add"]["until_found_s"]


@pytest.mark.skipif(not (SHARED_DATA / "qa-train" / "squad_v1.1_train_explorer.json.gz").is_file(),
                    reason="SQuAD train is not in ../shared/data/qa-train")
def test_bench_ray_smoke(bench_env: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is the optional 'ray' extra: pip install -e '.[ray]'")
    from bench import bench_ray

    assert bench_ray.main(["--paragraphs", "40", "--repeat", "1", "--out", str(tmp_path / "ray.json")]) == 0
    res = _result(tmp_path, "ray")
    assert res["runs"][0]["single"]["chunks"] == res["runs"][0]["ray"]["chunks"] >= 40
    assert res["same_index"] == {"same_documents": True, "same_chunk_rows": True,
                                 "max_vector_diff": res["same_index"]["max_vector_diff"]}
    assert res["same_index"]["max_vector_diff"] < 1e-5
