"""Span reader: exact offsets, windows, no-answer behaviour, loading from a path, thread safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import rag.reader as reader_mod  # noqa: E402
from rag.answer import AnswerSettings  # noqa: E402
from rag.reader import DEFAULT_MODEL_DIR, ReaderUnavailable, SpanReader, normalize_answer  # noqa: E402
from rag.schema import Passage, Span  # noqa: E402

SHIPPED = (DEFAULT_MODEL_DIR / "config.json").exists()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason=f"no trained reader at {DEFAULT_MODEL_DIR}")

DOC = (
    "BRUSSELS (Reuters) - NATO will send 4,000 troops to Afghanistan next spring, its top commander said. "
    "Gen. John Craddock, NATO's Supreme Allied Commander in Europe, told reporters in Brussels that the "
    "extra forces would come mainly from Canada and Poland. The alliance has about 50,000 soldiers in "
    "the country. Officials said the decision was taken on Monday after talks that lasted two days."
)


def passages_of(text: str, size: int, step: int, doc_id: str = "doc1") -> list[Passage]:
    out = []
    for i, s in enumerate(range(0, len(text), step)):
        e = min(len(text), s + size)
        out.append(
            Passage(chunk_id=i, doc_id=doc_id, title="t", start=s, end=e, text=text[s:e], score=1.0 - i / 100)
        )
        if e == len(text):
            break
    return out


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised BERT QA model with the real tokenizer, saved to a folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from rag_train.reader import base_model_path

    path = tmp_path_factory.mktemp("tiny-reader")
    tok = AutoTokenizer.from_pretrained(base_model_path())
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertForQuestionAnswering(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    (path / "reader_config.json").write_text(json.dumps({"max_len": 64, "stride": 16, "threshold": 0.2}))
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> SpanReader:
    return SpanReader.load(tiny_model_dir)


def check_spans(spans: list[Span], passages: list[Passage], doc_text: str) -> None:
    by_chunk = {p.chunk_id: p for p in passages}
    keys = set()
    for s in spans:
        p = by_chunk[s.chunk_id]
        assert s.doc_id == p.doc_id
        assert p.start <= s.start < s.end <= p.end
        assert doc_text[s.start : s.end] == s.text  # exact substring at its document offsets
        assert p.text[s.start - p.start : s.end - p.start] == s.text
        assert s.text == s.text.strip() and s.text
        assert 0.0 <= s.score <= 1.0 and 0.0 <= s.no_answer_score <= 1.0
        key = normalize_answer(s.text) or s.text
        assert key not in keys  # de-duplicated
        keys.add(key)
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    for i, a in enumerate(spans):  # no two spans overlap in the same document
        for b in spans[i + 1 :]:
            assert a.doc_id != b.doc_id or a.end <= b.start or b.end <= a.start


def test_import_is_cheap() -> None:
    code = "import sys, rag.reader; print(any(m in sys.modules for m in ('torch', 'transformers', 'onnxruntime')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_load_from_path_and_settings(tiny: SpanReader, tiny_model_dir: Path) -> None:
    assert tiny.name == str(tiny_model_dir)
    assert AnswerSettings.from_reader_config(tiny.folder).threshold == pytest.approx(0.2)
    assert tiny.settings.max_len == 64 and tiny.settings.stride == 16


def test_spans_are_exact_substrings_with_windows(tiny: SpanReader) -> None:
    # Overlapping passages, each longer than one 64-token window: several windows per passage.
    passages = passages_of(DOC, size=260, step=150)
    assert len(passages) >= 2
    assert len(tiny._encode("Who is NATO's commander?", [p.text for p in passages])) > len(passages)
    spans, no_answer = tiny.read("Who is NATO's commander?", passages, top_n=8)
    assert spans
    assert 0.0 <= no_answer <= 1.0
    check_spans(spans, passages, DOC)


def test_offsets_with_unicode_and_odd_whitespace(tiny: SpanReader) -> None:
    text = "Intro line.\n\nZürich’s mayor — Corine Mauch — said “non” to the plan  twice.\tThe end."
    passages = [Passage(chunk_id=7, doc_id="z", title="z", start=13, end=len(text), text=text[13:], score=1.0)]
    spans, _ = tiny.read("  Who is the mayor?  ", passages, top_n=10)
    check_spans(spans, passages, text)


def test_empty_inputs(tiny: SpanReader) -> None:
    assert tiny.read("Who?", []) == ([], 1.0)
    assert tiny.read("   ", passages_of(DOC, 200, 200)) == ([], 1.0)


def test_very_long_question_is_truncated(tiny: SpanReader) -> None:
    spans, _ = tiny.read("why " * 500, passages_of(DOC, 200, 200))
    check_spans(spans, passages_of(DOC, 200, 200), DOC)


def test_passage_evidence_then_read_runs_the_model_once(tiny: SpanReader, tiny_model_dir: Path) -> None:
    """The second stage scores passages and ``read`` then reads some of them: the windows already run are
    taken from the reader's recent logits, and the spans are those a fresh reader finds."""
    question = "Who commands NATO's forces?"
    passages = passages_of(DOC, size=120, step=100)
    calls: list[int] = []
    reader = SpanReader.load(tiny_model_dir)
    run = reader._run
    reader._run = lambda feed: (calls.append(len(feed["input_ids"])), run(feed))[1]
    evidence = reader.passage_evidence(question, passages)
    assert len(evidence) == len(passages) and all(isinstance(e, float) and e == e for e in evidence)
    n_calls = len(calls)
    assert n_calls >= 1
    spans, no_answer = reader.read(question, passages[1:3], top_n=8)
    assert len(calls) == n_calls  # nothing run again
    fresh_spans, fresh_na = SpanReader.load(tiny_model_dir).read(question, passages[1:3], top_n=8)
    assert [(s.chunk_id, s.start, s.end) for s in spans] == [(s.chunk_id, s.start, s.end) for s in fresh_spans]
    assert [s.score for s in spans] == pytest.approx([s.score for s in fresh_spans], rel=1e-4)
    assert no_answer == pytest.approx(fresh_na, rel=1e-4)
    reader.read("Another question?", passages[1:3])
    assert len(calls) > n_calls  # another question is another pair
    assert tiny.passage_evidence(question, []) == [] and tiny.passage_evidence("  ", passages[:2]) == [0.0, 0.0]


def test_more_passages_than_the_recent_logits_keep(tiny: SpanReader) -> None:
    text = " ".join(f"Sentence {i} says that the number is {i}." for i in range(120))
    passages = passages_of(text, size=80, step=80)
    assert len(passages) > reader_mod._RECENT
    spans, _ = tiny.read("What is the number?", passages, top_n=10)
    check_spans(spans, passages, text)
    assert len(tiny.passage_evidence("What is the number?", passages)) == len(passages)


def test_thread_safe_concurrent_reads(tiny: SpanReader) -> None:
    passages = passages_of(DOC, size=200, step=150)
    expected = tiny.read("How many troops?", passages)
    results: list[object] = []

    def work() -> None:
        results.append(tiny.read("How many troops?", passages))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_missing_models_raise_reader_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReaderUnavailable):
        SpanReader.load(tmp_path)  # a folder without config.json
    with pytest.raises(ReaderUnavailable):
        SpanReader.load("no-such-owner/no-such-reader-model")  # hub id, offline, not cached
    monkeypatch.setattr(reader_mod, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    with pytest.raises(ReaderUnavailable):
        SpanReader.load()


def test_torch_int8_backend_loads(tiny_model_dir: Path) -> None:
    r = SpanReader.load(tiny_model_dir, backend="torch-int8")
    passages = passages_of(DOC, 200, 150)
    spans, _ = r.read("Where?", passages)
    check_spans(spans, passages, DOC)


# ------------------------------------------------------------------------- the shipped model
@needs_shipped
def decide(r: SpanReader, spans: list[Span], no_answer: float) -> Span | None:
    """The best span if the reader's own answering rule (its reader_config.json) accepts it."""
    rule = AnswerSettings.from_reader_config(r.folder)
    return spans[0] if spans and rule.accepts(spans[0].score, no_answer) else None


def test_shipped_model_size_and_card() -> None:
    size = sum(f.stat().st_size for f in DEFAULT_MODEL_DIR.rglob("*") if f.is_file())
    assert size <= 50 * 1024 * 1024
    card = (DEFAULT_MODEL_DIR / "README.md").read_text()
    for needle in ("Apache-2.0", "CC BY-SA 4.0", "python -m rag", "## Training", "## Decision rule", "HasAns"):
        assert needle in card
    cfg = json.loads((DEFAULT_MODEL_DIR / "reader_config.json").read_text())
    assert 0.0 <= cfg["threshold"] <= 1.0 and 0.0 < cfg["answer_ratio"] <= 0.5
    assert f"**{cfg['threshold']:.4f}**" in card and f"**{cfg['answer_ratio']:.2f}**" in card  # the card says it


@needs_shipped
@pytest.mark.parametrize("how", ["default", "path"])
def test_shipped_model_answers(how: str) -> None:
    r = SpanReader.load() if how == "default" else SpanReader.load(str(DEFAULT_MODEL_DIR))
    passages = passages_of(DOC, size=400, step=300)
    spans, no_answer = r.read("How many troops will NATO send to Afghanistan?", passages)
    check_spans(spans, passages, DOC)
    best = decide(r, spans, no_answer)
    assert best is not None and "4,000" in best.text
    spans, no_answer = r.read("Who is NATO's Supreme Allied Commander in Europe?", passages)
    best = decide(r, spans, no_answer)
    assert best is not None and "Craddock" in best.text


@needs_shipped
def test_shipped_model_finds_more_evidence_where_the_answer_is() -> None:
    r = SpanReader.load()
    unrelated = "The recipe calls for two cups of flour, one egg and a pinch of salt. Bake for 20 minutes."
    passages = [Passage(chunk_id=0, doc_id="r", title="r", start=0, end=len(unrelated), text=unrelated, score=1.0),
                Passage(chunk_id=1, doc_id="n", title="n", start=0, end=len(DOC), text=DOC, score=0.5)]
    low, high = r.passage_evidence("Who is NATO's Supreme Allied Commander in Europe?", passages)
    assert high > low


@needs_shipped
def test_shipped_model_abstains_when_passage_is_unrelated() -> None:
    r = SpanReader.load()
    text = "The recipe calls for two cups of flour, one egg and a pinch of salt. Bake for 20 minutes."
    passages = [Passage(chunk_id=0, doc_id="r", title="r", start=0, end=len(text), text=text, score=1.0)]
    spans, no_answer = r.read("Who won the 1998 World Cup final?", passages)
    check_spans(spans, passages, text)
    assert decide(r, spans, no_answer) is None


@needs_shipped
@pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "model.int8.onnx").exists(), reason="no ONNX model shipped (torch is the default)"
)
def test_shipped_onnx_backend() -> None:
    r = SpanReader.load(backend="onnx")
    passages = passages_of(DOC, size=400, step=300)
    spans, _ = r.read("How many troops will NATO send?", passages)
    check_spans(spans, passages, DOC)
