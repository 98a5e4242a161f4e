"""Reliability: kills mid-write, concurrent indexers, soak under threads, no network, fuzzed questions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import Assistant
from rag.errors import EmptyQuestion
from rag.indexer import update_index
from rag.ingest import load_corpus
from rag.store import LOCK, ChunkingConfig, IndexStore

from .conftest import ROOT, FakeEmbedder

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

KILL_DRIVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import rag.store as store
    from rag.indexer import update_index
    from rag.store import ChunkingConfig
    from tests.conftest import FakeEmbedder

    corpus, index, ready, where = sys.argv[1:5]
    real = store.atomic_write_bytes

    def stall(path, data):
        if where == "mid-file" and path.name.startswith("vectors-"):
            # Write half the file under its temporary name, then wait to be killed.
            tmp = path.parent / f".{path.name}.partial.tmp"
            tmp.write_bytes(data[: len(data) // 2])
            Path(ready).touch()
            time.sleep(600)
        if where == "before-manifest" and path.name == "manifest.json":
            Path(ready).touch()
            time.sleep(600)
        real(path, data)

    store.atomic_write_bytes = stall
    update_index(corpus, index, FakeEmbedder(), ChunkingConfig(max_tokens=60, overlap=1))
    """
)


@pytest.mark.parametrize("where", ["mid-file", "before-manifest"])
def test_sigkill_mid_write_keeps_previous_index(seeds_copy: Path, tmp_path: Path, where: str) -> None:
    index = tmp_path / "index"
    emb = FakeEmbedder()
    update_index(seeds_copy, index, emb, ChunkingConfig(max_tokens=60, overlap=1))
    (seeds_copy / "new.txt").write_text("Canada will lead the battlegroup in Latvia.")
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", KILL_DRIVER, str(seeds_copy), str(index), str(ready), where],
                            env=ENV, cwd=ROOT)
    deadline = time.time() + 120
    while not ready.exists():
        assert proc.poll() is None, "driver exited before reaching the write"
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = IndexStore.open(index)  # the previous generation, intact
    assert "new" not in store.documents and len(store.documents) == 3
    from rag.retriever import Retriever

    assert Retriever(store, emb).retrieve("Craddock", k=1)  # type: ignore[arg-type]
    report = update_index(seeds_copy, index, emb, None)  # and the next run completes the job
    assert report.added == ["new"]
    assert not list(index.glob(".*.tmp"))


def test_concurrent_index_runs_are_serialised(seeds_copy: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    driver = ("import sys; from rag.indexer import update_index; from tests.conftest import FakeEmbedder; "
              "update_index(sys.argv[1], sys.argv[2], FakeEmbedder())")
    with FileLock(str(index / LOCK)):
        proc = subprocess.Popen([sys.executable, "-c", driver, str(seeds_copy), str(index)], env=ENV, cwd=ROOT)
        time.sleep(3)
        assert proc.poll() is None, "the second indexer did not wait for the lock"
        assert not IndexStore.exists(index)
    assert proc.wait(timeout=120) == 0
    assert len(IndexStore.open(index).documents) == 3


def test_odd_corpus(tmp_path: Path) -> None:
    c = tmp_path / "c"
    c.mkdir()
    (c / "ok.txt").write_text("NATO met in Brussels on Monday.")
    (c / "copy-of-ok.txt").write_text("NATO met in Brussels on Monday.")
    (c / "huge.txt").write_bytes(b"word " * (10 * 1024 * 1024))  # 50 MB
    (c / "cp1252.txt").write_bytes("na\xefve caf\xe9".encode("cp1252"))
    (c / "bin.md").write_bytes(bytes(range(256)))
    (c / "empty.html").write_text("<html><script>x()</script></html>")
    (c / "lines.jsonl").write_text('{"id": "a", "text": "Fine."}\n{oops\n["not", "a", "record"]\n{"id": "b"}\n')
    docs, issues = load_corpus(c)
    assert sorted(d.doc_id for d in docs) == ["a", "copy-of-ok"] or sorted(d.doc_id for d in docs) == ["a", "ok"]
    said = {(i.path, i.line): i.reason for i in issues}
    assert "too large" in said[("huge.txt", None)]
    assert "UTF-8" in said[("cp1252.txt", None)] and "binary" in said[("bin.md", None)]
    assert "no main text" in said[("empty.html", None)]
    assert {("lines.jsonl", 2), ("lines.jsonl", 3), ("lines.jsonl", 4)} <= set(said)


@pytest.fixture(scope="module")
def fake_qa(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    from .conftest import SEEDS

    idx = tmp_path_factory.mktemp("fuzz") / "index"
    emb = FakeEmbedder()
    update_index(SEEDS, idx, emb, ChunkingConfig(max_tokens=60, overlap=1))
    return Assistant(idx, emb, reader="sentence")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300), st.integers(min_value=1, max_value=12))
def test_fuzzed_questions(fake_qa: Assistant, question: str, top_k: int) -> None:
    try:
        ans = fake_qa.ask(question, top_k=top_k)
    except EmptyQuestion:
        assert not any(ch.isalnum() for ch in question)  # letters and digits always survive cleaning
        return
    assert 0.0 <= ans.score <= 1.0
    for c in ans.citations:
        text = fake_qa.document(c.doc_id).text
        assert text[c.quote_start : c.quote_end] == c.quote
        assert ans.text is not None and text[c.answer_start : c.answer_end] == ans.text  # type: ignore[misc]
    for p in ans.passages:
        assert fake_qa.document(p.doc_id).text[p.start : p.end] == p.text


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any outgoing connection that is not to the loopback interface."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def loopback(address: Any) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        if not isinstance(host, str):
            return False
        return host.startswith("127.") or host in {"localhost", "::1"} or host.startswith("/")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or loopback(address):
            return real_connect(self, address)
        attempts.append(address)
        raise OSError(f"network access forbidden in tests: {address}")

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or loopback(address):
            return real_connect_ex(self, address)
        attempts.append(address)
        return 111

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: (
        [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", a[0] if a else 0))] if loopback((host, 0))
        else attempts.append(host) or (_ for _ in ()).throw(OSError(f"DNS forbidden in tests: {host}"))))
    return attempts


@pytest.mark.slow
def test_no_network_when_indexing_and_asking(no_network: list[Any], seeds_copy: Path, tmp_path: Path) -> None:
    qa = Assistant.build(seeds_copy, index_dir=tmp_path / "index")  # the default reader, as users get it
    ans = qa.ask("Who is the supreme allied commander of NATO?")
    assert ans.citations
    assert no_network == []


@pytest.mark.slow
def test_soak_16_threads(real_seeds_index: tuple[Path, Path]) -> None:
    """16 threads asking for RAG_SOAK_SECONDS (default 30) get exactly the sequential answers."""
    qa = Assistant.open(real_seeds_index[1])
    questions = [
        "Who is the supreme allied commander of NATO?",
        "How many troops will the rotating force have?",
        "Which countries have said they will contribute a battalion?",
        "How many US soldiers have been killed since May 1?",
        "Where will the defence ministers meet?",
        "What is the capital of Peru?",
    ]
    expected = {q: qa.ask(q).model_dump_json(exclude={"passages"}) for q in questions}
    seconds = float(os.environ.get("RAG_SOAK_SECONDS", "30"))
    stop = time.time() + seconds
    errors: list[BaseException] = []
    mismatches: list[str] = []
    counts = [0] * 16

    def work(n: int) -> None:
        i = n
        while time.time() < stop:
            q = questions[i % len(questions)]
            try:
                got = qa.ask(q).model_dump_json(exclude={"passages"})
            except BaseException as e:  # noqa: BLE001 - any error fails the soak
                errors.append(e)
                return
            if got != expected[q]:
                mismatches.append(q)
            counts[n] += 1
            i += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and mismatches == []
    assert all(c > 0 for c in counts)
