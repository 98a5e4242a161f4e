"""The Ray path (``rag.distributed``, issue 17) on a local 2-CPU Ray cluster: the seeds and a few hundred SQuAD
paragraphs give the index of the single-process path (same documents, chunks, chunk ids and vectors, same
top-10 for every question), incremental updates agree, and a worker killed mid-run is replaced by Ray
without a passage lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SEEDS, SHARED_DATA

ray = pytest.importorskip("ray", reason="Ray is the optional 'ray' extra: pip install -e '.[ray]'")

pytestmark = pytest.mark.slow

SQUAD = SHARED_DATA / "squad-v1.1-dev-a.json"
N_PARAGRAPHS = 240


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The seeds plus the first ``N_PARAGRAPHS`` SQuAD dev-a paragraphs (one .txt each), and the questions
    on them."""
    if not SQUAD.is_file():
        pytest.skip(f"{SQUAD} is missing (../shared/data)")
    root = tmp_path_factory.mktemp("ray-corpus") / "corpus"
    shutil.copytree(SEEDS, root)
    questions = [json.loads(line)["question"] for line in (Path(__file__).parents[1] / "eval" / "seeds.jsonl")
                 .read_text(encoding="utf-8").splitlines() if line.strip()]
    n = 0
    for article in json.loads(SQUAD.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            if n == N_PARAGRAPHS:
                break
            (root / "squad").mkdir(exist_ok=True)
            (root / "squad" / f"{n:04d}.txt").write_text(para["context"], encoding="utf-8")
            questions += [qa["question"] for qa in para["qas"][:1]]
            n += 1
    return root, questions


@pytest.fixture(scope="module")
def cluster() -> object:
    """A local Ray cluster of 2 CPUs, shared by this module's tests (``ray_session`` uses it as it is)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    yield ray
    ray.shutdown()


def _same_index(a_dir: Path, b_dir: Path) -> None:
    from bench.bench_ray import same_index

    check = same_index(a_dir, b_dir)
    assert check["same_documents"]
    assert check["same_chunk_rows"]  # chunk ids, documents and offsets alike
    assert check["max_vector_diff"] <= 1e-5


def _top10(index_dir: Path, questions: list[str]) -> list[list[tuple[str, int, int]]]:
    from rag.embedding import Embedder
    from rag.retriever import Retriever
    from rag.store import IndexStore

    retriever = Retriever(IndexStore.open(index_dir), Embedder())
    return [[(p.doc_id, p.start, p.end) for p in retriever.retrieve(q, k=10)] for q in questions]


def test_ray_path_builds_the_single_process_index_and_updates_it_alike(
        corpus: tuple[Path, list[str]], cluster: object, tmp_path: Path) -> None:
    from rag.distributed import RayOptions, ray_update_index
    from rag.embedding import Embedder
    from rag.indexer import update_index

    root, questions = corpus
    work = tmp_path / "corpus"
    shutil.copytree(root, work)
    options = RayOptions(batch_size=64, files_per_task=32)
    local = update_index(work, tmp_path / "local", Embedder(), query_encoder=False)
    by_ray = ray_update_index(work, tmp_path / "ray", Embedder(), options=options, query_encoder=False)
    assert by_ray.chunks_embedded == local.chunks_embedded > N_PARAGRAPHS
    assert sorted(by_ray.added) == sorted(local.added) and by_ray.skipped == local.skipped
    _same_index(tmp_path / "local", tmp_path / "ray")
    assert _top10(tmp_path / "ray", questions) == _top10(tmp_path / "local", questions)

    # Incremental: one article changed, one added, one removed: only those are embedded, as on one process.
    (work / "squad" / "0001.txt").write_text("NATO moved its headquarters to Brussels in 1967.", encoding="utf-8")
    (work / "squad" / "new.txt").write_text("The alliance held its summit in Vilnius in July 2023.",
                                            encoding="utf-8")
    (work / "squad" / "0002.txt").unlink()
    local = update_index(work, tmp_path / "local", Embedder(), query_encoder=False)
    by_ray = ray_update_index(work, tmp_path / "ray", Embedder(), options=options, query_encoder=False)
    assert (by_ray.added, by_ray.updated, by_ray.removed) == (["new"], ["0001"], ["0002"])
    assert (local.added, local.updated, local.removed) == (["new"], ["0001"], ["0002"])
    assert by_ray.chunks_embedded == local.chunks_embedded == 2
    _same_index(tmp_path / "local", tmp_path / "ray")


def _embedding_workers() -> list[int]:
    """Pids of Ray processes serving an embedding actor that has finished loading its model."""
    import psutil

    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if "EmbedChunks" in title and "__init__" not in title:
            pids.append(proc.info["pid"])
    return pids


def test_a_worker_killed_mid_run_is_replaced_and_the_index_is_whole(
        corpus: tuple[Path, list[str]], cluster: object, tmp_path: Path) -> None:
    from rag.distributed import RayOptions, ray_update_index
    from rag.embedding import Embedder
    from rag.indexer import update_index

    root, _ = corpus
    killed: list[int] = []
    done = threading.Event()

    def kill_one() -> None:  # SIGKILL the first embedding actor seen working, once
        while not done.is_set() and not killed:
            for pid in _embedding_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    try:
        report = ray_update_index(root, tmp_path / "ray", Embedder(), query_encoder=False,
                                  options=RayOptions(batch_size=8, concurrency=1))
    finally:
        done.set()
        killer.join()
    assert killed, "no embedding worker was seen working before the run ended: nothing was tested"
    local = update_index(root, tmp_path / "local", Embedder(), query_encoder=False)
    assert report.chunks_embedded == local.chunks_embedded
    _same_index(tmp_path / "local", tmp_path / "ray")


def test_embedding_actor_makes_the_kind_of_vectors_the_index_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray actor embeds with the index's kind: int8 vectors from the ONNX export, fp32 from the model."""
    import numpy as np

    from rag.distributed import _EmbedChunks
    from rag.embedding import ONNX_THREADS_ENV, Embedder, OnnxQueryEncoder, query_encoder_dir

    monkeypatch.setenv(ONNX_THREADS_ENV, "1")  # the actor sets it for its process; restored after the test

    texts = ["NATO moved its headquarters to Brussels in 1967.", "", "The alliance held its summit in Vilnius."]
    batch = {"text": np.array(texts, dtype=object), "n": np.array([0, -1, 0]), "order": np.array([0, 1, 2]),
             "count": np.array([1, 0, 1]), "start": np.array([0, 0, 0]), "end": np.array([48, 0, 40])}
    emb = Embedder()
    assert emb.export_query_encoder()
    enc = OnnxQueryEncoder.open(query_encoder_dir(emb.name), emb.name)
    assert enc is not None
    real = [texts[0], texts[2]]
    for kind, want in (("int8", enc.encode(real)), ("fp32", emb.encode(real))):
        got = _EmbedChunks(emb.path, 1, kind)(batch)["vector"]  # type: ignore[arg-type]
        assert np.allclose(got[[0, 2]], want, atol=1e-5) and not got[1].any()
