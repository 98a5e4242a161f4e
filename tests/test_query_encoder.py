"""The ONNX query encoder: int8, within INT8_MAX_GAP cosine of sentence-transformers (its fp32 graph within
1e-4 before quantisation), checked at export and before use, and a torch-free ask path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import (
    FP32_MAX_GAP,
    INT8_MAX_GAP,
    QUERY_ENCODER_META,
    QUERY_ENCODER_ONNX,
    QUERY_ENCODER_VERSION,
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
    assert meta["version"] == QUERY_ENCODER_VERSION and "int8" in meta["quantization"]
    assert meta["check"]["fp32_max_cosine_gap"] <= FP32_MAX_GAP
    assert meta["check"]["max_cosine_gap"] <= INT8_MAX_GAP
    assert meta["onnx"]["size"] < 30e6  # int8: a quarter of the fp32 graph's 90 MB
    mtime = (folder / QUERY_ENCODER_ONNX).stat().st_mtime_ns
    assert emb.export_query_encoder(folder)  # already there: a no-op
    assert (folder / QUERY_ENCODER_ONNX).stat().st_mtime_ns == mtime
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_onnx_matches_sentence_transformers(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    enc = OnnxQueryEncoder.open(folder, emb.name)
    assert enc is not None
    ref = emb.encode(TEXTS)
    got = enc.encode(TEXTS)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    gap = 1.0 - np.sum(got * ref, axis=1)
    assert float(gap.max()) <= INT8_MAX_GAP, gap
    assert float(gap.mean()) <= INT8_MAX_GAP / 2, gap
    # int8 activations are scaled per batch, so a text alone and in a batch differ a little; alone (as a
    # question is encoded) it always gets the same vector
    one_by_one = np.vstack([enc.encode([t]) for t in TEXTS])
    assert float((1.0 - np.sum(one_by_one * ref, axis=1)).max()) <= INT8_MAX_GAP
    assert np.array_equal(one_by_one, np.vstack([enc.encode([t]) for t in TEXTS]))


def test_embedder_routes_queries_to_onnx(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    fresh = Embedder()
    assert fresh.use_query_encoder(folder)
    assert fresh.query_encoder is not None
    q = fresh.encode_query(TEXTS[0])
    assert q.shape == (384,)
    assert float(q @ emb.encode([TEXTS[0]])[0]) >= 1 - INT8_MAX_GAP
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
    """A damaged export is never run, and never silently bypassed (the slow torch path): its size is
    checked when it is attached and its SHA-256 before its first use; the damage is reported in one
    line, and the export is made again."""
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
    if damage != "truncated":  # the same size: only the SHA-256, checked before the first load, tells
        unverified = OnnxQueryEncoder.open(tmp_path, emb.name, verify=False)
        assert unverified is not None
        with pytest.raises(QueryEncoderDamaged, match="SHA-256"):
            unverified.encode(TEXTS[:1])
    fresh = Embedder()
    with caplog.at_level("WARNING", logger="rag.embedding"):
        assert fresh.use_query_encoder(tmp_path)
        q = fresh.encode_query(TEXTS[0])  # repaired by now, either way
    warned = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(warned) == 1 and "\n" not in warned[0] and str(tmp_path) in warned[0]
    assert OnnxQueryEncoder.open(tmp_path, emb.name) is not None  # sound again
    assert fresh.query_encoder is not None
    assert float(q @ emb.encode([TEXTS[0]])[0]) >= 1 - INT8_MAX_GAP


def test_an_earlier_version_still_answers_and_the_next_export_replaces_it(exported: tuple[Embedder, Path],
                                                                          tmp_path: Path) -> None:
    """A version-1 export (fp32, before quantisation) keeps answering until an index run exports anew."""
    emb, folder = exported
    meta = _copy_export(folder, tmp_path)
    meta["version"] = 1
    (tmp_path / QUERY_ENCODER_META).write_text(json.dumps(meta))
    old = OnnxQueryEncoder.open(tmp_path, emb.name)
    assert old is not None and old.meta["version"] == 1
    assert emb.export_query_encoder(tmp_path)
    assert json.loads((tmp_path / QUERY_ENCODER_META).read_text())["version"] == QUERY_ENCODER_VERSION


def test_one_query_encoder_per_model_outside_the_index(real_seeds_index: tuple[Path, Path]) -> None:
    _, index = real_seeds_index
    assert not list(index.glob("query-encoder*"))  # an index folder holds no model weights
    assert (query_encoder_dir(Embedder().name) / QUERY_ENCODER_META).is_file()  # the indexer exported it


def _assert_runs_without_torch(code: str) -> None:
    """``code`` run in a fresh process succeeds, and imports neither torch, sentence-transformers nor
    transformers."""
    code += (
        "\nimport sys\n"
        "bad = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print('heavy:', bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ask_path_imports_no_torch(real_seeds_index: tuple[Path, Path]) -> None:
    _, index = real_seeds_index
    _assert_runs_without_torch(
        "from rag import Assistant\n"
        f"qa = Assistant.open({str(index)!r}, reader='sentence')\n"
        "ans = qa.ask(\"Who is the supreme allied commander of NATO?\")\n"
        "assert ans.text and 'Craddock' in ans.text, ans\n"
    )


def test_a_new_index_holds_int8_passage_vectors_from_the_export(real_seeds_index: tuple[Path, Path]) -> None:
    """The indexer embeds passages with the int8 export (faster, same recall on the tuning half) and records
    it."""
    from rag.store import IndexStore

    _, index = real_seeds_index
    store = IndexStore.open(index)
    assert store.manifest.document_vectors == "int8"
    emb = Embedder()
    enc = OnnxQueryEncoder.open(query_encoder_dir(emb.name), emb.name)
    assert enc is not None
    ids = sorted(store.chunks)  # the order the indexer embedded them in, in one call
    texts = [store.chunks.text(c) for c in ids]
    # int8 activations are quantised per batch, so a text's int8 vector depends slightly on its batch
    # (cosine 0.99+): the same texts in the same call give the very vectors stored
    int8 = enc.encode(texts)
    ids, texts = ids[:5], texts[:5]
    for kind, vectors in (("int8", int8[:5]), ("fp32", emb.encode(texts))):
        # unit vectors: the stored one is this one exactly when their inner product is 1
        sims = [store.search(v, 1, chunk_ids=[c])[0][1] for c, v in zip(ids, vectors, strict=True)]
        if kind == "int8":
            assert min(sims) > 1 - 1e-5, sims
        else:
            assert max(sims) < 1 - 1e-5 and min(sims) > 1 - INT8_MAX_GAP, sims


def test_document_vectors_of_each_kind(exported: tuple[Embedder, Path]) -> None:
    emb, folder = exported
    mine = Embedder()
    mine.query_encoder = OnnxQueryEncoder.open(folder, mine.name)
    assert np.allclose(mine.encode_documents(TEXTS, "fp32"), emb.encode(TEXTS), atol=1e-6)
    assert mine.query_encoder is not None
    assert np.allclose(mine.encode_documents(TEXTS, "int8"), mine.query_encoder.encode(TEXTS), atol=1e-6)


def test_index_path_imports_no_torch(real_seeds_index: tuple[Path, Path], tmp_path: Path) -> None:
    """With the model's export in place, indexing runs on ONNX Runtime alone (int8 passage vectors)."""
    corpus, _ = real_seeds_index  # its build made the export
    _assert_runs_without_torch(
        "from rag.embedding import Embedder\n"
        "from rag.indexer import update_index\n"
        f"rep = update_index({str(corpus)!r}, {str(tmp_path / 'index')!r}, Embedder())\n"
        "assert rep.chunks > 0, rep\n"
    )
