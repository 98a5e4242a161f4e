"""CLI: one-line errors and non-zero exits, never a traceback; JSON output is the Answer model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import Answer

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def rag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=300)


def test_missing_index(tmp_path: Path) -> None:
    r = rag("ask", "Who?", "--index", str(tmp_path / "nope"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().startswith("error: no index at") and len(r.stderr.strip().splitlines()) == 1
    assert f"(create it with: rag index CORPUS --index {tmp_path / 'nope'})" in r.stderr  # the CLI says how


def test_empty_question(tmp_path: Path) -> None:
    r = rag("ask", "  ", "--index", str(tmp_path))
    assert r.returncode == 1 and r.stderr.strip() == "error: the question is empty"


def test_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "bad.txt").write_bytes(b"\xff\xfe\x00")
    r = rag("index", str(tmp_path / "c"), "--index", str(tmp_path / "i"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "no readable article" in r.stderr
    r = rag("index", str(tmp_path / "missing"), "--index", str(tmp_path / "i"))
    assert r.returncode == 1 and "corpus folder not found" in r.stderr


def test_a_bare_ray_option_means_a_local_cluster() -> None:
    from rag.cli import LOCAL_RAY, optional_values

    assert optional_values(["index", "c", "--ray"]) == ["index", "c", "--ray", LOCAL_RAY]
    assert optional_values(["index", "--ray", "--ray-cpus", "2"]) == ["index", "--ray", LOCAL_RAY, "--ray-cpus", "2"]
    assert optional_values(["index", "--ray", "ray://head:10001"]) == ["index", "--ray", "ray://head:10001"]


def test_ray_without_the_extra_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("NATO met in Brussels.", encoding="utf-8")
    argv = ["rag", "index", str(tmp_path / "c"), "--index", str(tmp_path / "i"), "--ray"]
    code = ("import sys; sys.modules['ray'] = None; from rag.cli import main; "  # as if Ray were not installed
            f"sys.argv = {argv!r}; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == "error: indexing on Ray needs the ray extra: pip install -e '.[ray]'"


@pytest.mark.slow
def test_index_and_ask_json(tmp_path: Path, real_seeds_index: tuple[Path, Path]) -> None:
    corpus, index = real_seeds_index
    (tmp_path / "c").mkdir()
    for p in corpus.iterdir():
        (tmp_path / "c" / p.name).write_bytes(p.read_bytes())
    (tmp_path / "c" / "junk.txt").write_bytes(b"\x00\x01binary")
    r = rag("index", str(tmp_path / "c"), "--index", str(tmp_path / "i"))
    assert r.returncode == 0, r.stderr
    assert "skipped junk.txt: binary" in r.stderr and "3 added" in r.stdout
    r = rag("ask", "Who is the supreme allied commander of NATO?", "--index", str(tmp_path / "i"), "--json")
    assert r.returncode == 0, r.stderr
    ans = Answer.model_validate(json.loads(r.stdout))
    assert ans.citations and "Craddock" in ans.citations[0].quote
