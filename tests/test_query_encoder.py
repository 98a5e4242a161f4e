"""The ONNX query encoder: same vectors as sentence-transformers (1e-4 cosine), and a torch-free ask path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import (
    QUERY_ENCODER_META,
    QUERY_ENCODER_ONNX,
    Embedder,
    OnnxQueryEncoder,
    QueryEncoderDamaged,
    query_encoder_dir,
)

pytestmark = pytest.mark.slow

TEXTS = [
    "Who is the supreme allied commander of NATO?",
    "When did the Normans conquer England?",
    "a",
    "",
    "   leading and trailing white space   ",
    "Ünïcödé façade — naïve café; 1,000 km² at 3:45 p.m. (¥500) 東京",
    "Super Bowl 50 was an American football game to determine the champion of the National Football League "
    "(NFL) for the 2015 season. " * 12,  # longer than max_seq_length: truncated the same way
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Embedder, Path]:
    folder = tmp_path_factory.mktemp("qenc")
    emb = Embedder()
    assert emb.export_query_encoder(folder)
    return emb, folder


def test_export_writes_files_and_meta(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    meta = json.loads((folder / QUERY_ENCODER_META).read_text())
    assert meta["model"] == emb.name and meta["dim"] == emb.dim == 384
    assert (folder / QUERY_ENCODER_ONNX).stat().st_size == meta["onnx"]["size"]
    assert meta["check"]["max_cosine_gap"] <= 1e-4
    assert emb.export_query_encoder(folder)  # already there: a no-op


def test_onnx_matches_sentence_transformers(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    enc = OnnxQueryEncoder.open(folder, emb.name)
    assert enc is not None
    ref = emb.encode(TEXTS)
    got = enc.encode(TEXTS)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    gap = 1.0 - np.sum(got * ref, axis=1)
    assert float(gap.max()) <= 1e-4, gap
    one_by_one = np.vstack([enc.encode([t]) for t in TEXTS])  # padding in a batch changes nothing
    assert float((1.0 - np.sum(one_by_one * ref, axis=1)).max()) <= 1e-4


def test_embedder_routes_queries_to_onnx(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    fresh = Embedder()
    assert fresh.use_query_encoder(folder)
    assert fresh.query_encoder is not None
    q = fresh.encode_query(TEXTS[0])
    assert q.shape == (384,)
    assert float(q @ emb.encode([TEXTS[0]])[0]) >= 1 - 1e-4
    assert fresh._model is None  # sentence-transformers was never loaded


def _copy_export(folder: Path, to: Path) -> dict[str, object]:
    meta: dict[str, object] = json.loads((folder / QUERY_ENCODER_META).read_text())
    for name in (QUERY_ENCODER_META, QUERY_ENCODER_ONNX, meta["tokenizer"]["name"]):  # type: ignore[index]
        (to / str(name)).write_bytes((folder / str(name)).read_bytes())
    return meta


def test_absent_or_other_model_exports_are_not_used(exported: tuple[Embedder, Path], tmp_path: Path) -> None:
    emb, folder = exported
    assert OnnxQueryEncoder.open(folder, "some/other-model") is None
    assert OnnxQueryEncoder.open(tmp_path) is None  # nothing there
    assert not Embedder("sentence-transformers/all-MiniLM-L6-v2").use_query_encoder(tmp_path / "none")


@pytest.mark.parametrize("damage", ["truncated", "same size, other bytes"])
def test_damaged_export_is_reported_and_exported_again(exported: tuple[Embedder, Path], tmp_path: Path,
                                                        damage: str, caplog: pytest.LogCaptureFixture) -> None:
    """A damaged export is never used, and never silently bypassed (the slow torch path): its SHA-256 is
    checked at open, the damage is reported in one line, and the export is made again."""
    emb, folder = exported
    meta = _copy_export(folder, tmp_path)
    size = int(meta["onnx"]["size"])  # type: ignore[index]
    with (tmp_path / QUERY_ENCODER_ONNX).open("r+b") as f:
        if damage == "truncated":
            f.truncate(size // 2)
        else:
            f.seek(size // 2)
            f.write(b"\x00" * 64)
    with pytest.raises(QueryEncoderDamaged, match="SHA-256"):
        OnnxQueryEncoder.open(tmp_path, emb.name)
    fresh = Embedder()
    with caplog.at_level("WARNING", logger="rag.embedding"):
        assert fresh.use_query_encoder(tmp_path)  # repaired
    warned = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0] and str(tmp_path) in warned[0]
    assert OnnxQueryEncoder.open(tmp_path, emb.name) is not None  # sound again
    q = fresh.encode_query(TEXTS[0])
    assert float(q @ emb.encode([TEXTS[0]])[0]) >= 1 - 1e-4


def test_one_query_encoder_per_model_outside_the_index(real_seeds_index: tuple[Path, Path]) -> None:
    _, index = real_seeds_index
    assert not list(index.glob("query-encoder*"))  # an index folder holds no model weights
    assert (query_encoder_dir(Embedder().name) / QUERY_ENCODER_META).is_file()  # the indexer exported it


def test_ask_path_imports_no_torch(real_seeds_index: tuple[Path, Path]) -> None:
    _, index = real_seeds_index
    code = (
        "import sys\n"
        "from rag import Assistant\n"
        f"qa = Assistant.open({str(index)!r}, reader='sentence')\n"
        "ans = qa.ask(\"Who is the supreme allied commander of NATO?\")\n"
        "assert ans.text and 'Craddock' in ans.text, ans\n"
        "bad = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print('heavy:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
