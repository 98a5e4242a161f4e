"""The runner and the reports, over a tiny fake assistant (and, marked slow, the real one on seeds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval import compare, run
from eval.check_floor import check
from eval.datasets import load_dataset, sample
from eval.report import compare_reports
from eval.runner import resolve_paths, select_articles
from rag import Answer, Citation, Passage

DOCS = {
    "nato": "Only Britain and Germany have said they are willing to contribute. The force has 4,000 troops.",
    "iraq": "Fifty US soldiers have been killed. Poland scraped together 9,200 soldiers.",
}
QUESTIONS = [
    {"id": "q-right", "question": "How many troops does the force have?", "answers": ["4,000 troops"],
     "doc_id": "nato", "answerable": True},
    {"id": "q-wrong", "question": "How many soldiers could Poland assemble?", "answers": ["9,200 soldiers"],
     "doc_id": "iraq", "answerable": True},
    {"id": "q-abstain", "question": "Who commands the force?", "answers": [], "doc_id": None, "answerable": False},
    {"id": "q-false", "question": "What does the force cost?", "answers": [], "doc_id": "nato",
     "answerable": False},
]
# question -> (predicted answer or None, document it is quoted from)
CANNED = {
    "How many troops does the force have?": ("4,000 troops", "nato"),
    "How many soldiers could Poland assemble?": ("Fifty", "iraq"),
    "Who commands the force?": (None, "nato"),
    "What does the force cost?": ("4,000 troops", "nato"),
}


class FakeAssistant:
    """Canned answers; retrieval ranks 'iraq' first for everything, so 'nato' questions rank 2."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str] | None]] = []
        self.thresholds: list[float | None] = []

    def retrieve(self, question: str, k: int = 10, doc_ids: list[str] | None = None) -> list[Passage]:
        ids = [d for d in ("iraq", "iraq", "nato") if doc_ids is None or d in doc_ids]
        return [Passage(chunk_id=i, doc_id=d, title=d, start=0, end=len(DOCS[d]), text=DOCS[d], score=1 / (i + 1),
                        rank=i) for i, d in enumerate(ids[:k])]

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None,
            threshold: float | None = None, history: Any = ()) -> Answer:
        self.asked.append((question, doc_ids))
        self.thresholds.append(threshold)
        text, doc = CANNED[question]
        if text is None:
            return Answer(question=question, text=None, score=0.2)
        start = DOCS[doc].index(text)
        cite = Citation(doc_id=doc, title=doc, quote=DOCS[doc], quote_start=0, quote_end=len(DOCS[doc]),
                        answer_start=start, answer_end=start + len(text))
        return Answer(question=question, text=text, score=0.8, citations=[cite], answerer="reader")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def test_run_scores_and_writes_reports(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "REPORT.json"
    report = run(dataset, out=out, progress=False, assistant=FakeAssistant())
    for key in ("n", "exact_match", "f1", "has_answer_exact_match", "has_answer_f1", "no_answer_accuracy",
                "recall@1", "recall@5", "recall@10", "mrr", "citation_accuracy", "latency_ms_p50",
                "latency_ms_p95", "predictions"):
        assert key in report, key
    assert report["n"] == 4
    assert report["exact_match"] == 50.0
    assert report["has_answer_exact_match"] == 50.0
    assert report["no_answer_accuracy"] == 50.0
    assert report["abstention_precision"] == 100.0 and report["abstention_recall"] == 50.0
    # gold ranks: nato 2, iraq 1, nato 2 (the no-doc question is left out)
    assert report["n_retrieval"] == 3
    assert report["recall@1"] == pytest.approx(100 / 3) and report["recall@5"] == 100.0
    assert report["mrr"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert report["citation_accuracy"] == 100.0  # both answered answerable ones cite their gold doc
    # the wrong answer's quote (the whole iraq text) still holds the gold answer
    assert report["quote_hit"] == 100.0
    preds = {p["id"]: p for p in report["predictions"]}
    assert preds["q-abstain"]["prediction"] is None and preds["q-abstain"]["em"] == 1
    assert preds["q-wrong"]["retrieved_doc_ids"] == ["iraq", "nato"]
    for p in preds.values():
        assert {"id", "question", "prediction", "answers", "em", "f1", "retrieved_doc_ids", "score"} <= p.keys()
    assert json.loads(out.read_text())["exact_match"] == 50.0
    md = out.with_suffix(".md").read_text()
    assert "| EM | 50.0 |" in md and "Worst failures" in md and "q-wrong" in md
    assert (out.parent / "REPORT-calibration.png").stat().st_size > 0
    assert (out.parent / "REPORT-latency.png").stat().st_size > 0


def test_threshold_reaches_ask(dataset: Path) -> None:
    qa = FakeAssistant()
    report = run(dataset, progress=False, assistant=qa, write_report=False, threshold=0.0)
    assert qa.thresholds == [0.0] * 4 and report["meta"]["threshold"] == 0.0
    assert not any("error" in p for p in report["predictions"])


def test_gold_mode_restricts_ask_to_the_gold_document(dataset: Path, tmp_path: Path) -> None:
    qa = FakeAssistant()
    run(dataset, mode="gold", progress=False, assistant=qa, write_report=False)
    assert dict(qa.asked) == {
        "How many troops does the force have?": ["nato"],
        "How many soldiers could Poland assemble?": ["iraq"],
        "Who commands the force?": None,  # no gold document: asked over everything
        "What does the force cost?": ["nato"],
    }
    with pytest.raises(ValueError):
        run(dataset, mode="closed", progress=False, assistant=qa, write_report=False)


def test_limit_samples_reproducibly(dataset: Path) -> None:
    qs = load_dataset(dataset).questions
    assert [q.id for q in sample(qs, 2, seed=1)] == [q.id for q in sample(qs, 2, seed=1)]
    assert len(sample(qs, 2, seed=1)) == 2 and sample(qs, None, 0) == qs
    report = run(dataset, limit=3, seed=7, progress=False, assistant=FakeAssistant(), write_report=False)
    assert report["n"] == 3 and report["meta"]["seed"] == 7


def test_compare_prints_deltas(dataset: Path, tmp_path: Path) -> None:
    old = run(dataset, out=tmp_path / "old.json", progress=False, assistant=FakeAssistant())
    new = dict(old, exact_match=75.0, predictions=[dict(p, em=1) for p in old["predictions"]])
    (tmp_path / "new.json").write_text(json.dumps(new))
    text = compare(tmp_path / "old.json", tmp_path / "new.json")
    assert "exact_match" in text and "+25.0" in text
    assert "2 now exactly right" in text and "q-wrong" in text
    assert "warning" not in compare_reports(old, old)


def test_squad_file_becomes_a_cached_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    squad = {"version": "v2.0", "data": [{"title": "Oil_crisis", "paragraphs": [
        {"context": "The crisis began in October 1973.", "qas": [
            {"id": "a1", "question": "When did it begin?", "answers": [{"text": "October 1973", "answer_start": 20}],
             "is_impossible": False},
            {"id": "a2", "question": "When did it end?", "answers": [], "is_impossible": True}]},
        {"context": "Prices rose fourfold.", "qas": [
            {"id": "a3", "question": "How much did prices rise?", "answers": [{"text": "fourfold", "answer_start": 12}],
             "is_impossible": False}]}]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad))
    ds = load_dataset(path)
    assert [(q.id, q.doc_id, q.answerable) for q in ds.questions] == [
        ("a1", "000-000", True), ("a2", "000-000", False), ("a3", "000-001", True)]
    monkeypatch.setenv("RAG_EVAL_CACHE", str(tmp_path / "cache"))
    corpus, index = resolve_paths(ds, None, None)
    assert corpus == tmp_path / "cache" / ds.sha256 / "corpus" and index == corpus.parent / "index"
    records = [json.loads(line) for line in (corpus / "paragraphs.jsonl").read_text().splitlines()]
    assert records[1] == {"id": "000-001", "title": "Oil crisis", "text": "Prices rose fourfold."}
    assert [q.id for q in select_articles(ds, ["Oil_crisis"])] == ["a1", "a2", "a3"]
    assert [q.id for q in select_articles(ds, ["000-001"])] == ["a3"]  # or by document id
    assert len(select_articles(ds, None)) == 3
    with pytest.raises(ValueError, match="no question about"):
        select_articles(ds, ["Elsewhere"])


def test_bad_jsonl_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(QUESTIONS[0]) + "\n" + json.dumps(QUESTIONS[0]) + "\n")
    with pytest.raises(ValueError, match=":2: duplicate id"):
        load_dataset(path)
    path.write_text(json.dumps(dict(QUESTIONS[0], answers=[])) + "\n")
    with pytest.raises(ValueError, match=":1:"):
        load_dataset(path)


def test_floor_check() -> None:
    report: dict[str, Any] = {"exact_match": 40.0, "recall@5": None}
    assert check(report, {"exact_match": 35.0}) == []
    assert len(check(report, {"exact_match": 45.0, "recall@5": 90.0})) == 2


@pytest.mark.slow
def test_real_assistant_on_a_few_seed_questions(real_seeds_index: tuple[Path, Path], tmp_path: Path) -> None:
    from rag import Assistant

    _corpus, index = real_seeds_index
    qa = Assistant.open(index, reader=None)
    root = Path(__file__).resolve().parents[1]
    report = run(root / "eval" / "seeds.jsonl", limit=4, seed=0, out=tmp_path / "seeds.json", progress=False,
                 assistant=qa)
    assert report["n"] == 4 and report["meta"]["n_errors"] == 0
    assert report["recall@10"] is not None and report["latency_ms_p50"] is not None


def test_cli_compare(dataset: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    run(dataset, out=tmp_path / "a.json", progress=False, assistant=FakeAssistant())
    result = CliRunner().invoke(app, ["eval", "--compare", str(tmp_path / "a.json"), str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert "exact_match" in result.output and "+0.0" in result.output
    assert CliRunner().invoke(app, ["eval"]).exit_code == 1


class DialogueAssistant(FakeAssistant):
    """Answers the follow-up only when it is asked with its history; records what history it got."""

    def __init__(self) -> None:
        super().__init__()
        self.histories: list[list[str]] = []

    def ask(self, question: str, top_k: int = 5, doc_ids: list[str] | None = None,
            threshold: float | None = None, history: Any = ()) -> Answer:
        self.histories.append([h.question for h in history])
        if question == "How many does it have?":
            if not history:
                return Answer(question=question, text=None, score=0.0)
            question = "How many troops does the force have?"
        return super().ask(question, top_k, doc_ids, threshold)


def test_dialogue_sets_ask_the_history_first(tmp_path: Path) -> None:
    path = tmp_path / "dialogues.jsonl"
    path.write_text(json.dumps({"id": "d1", "doc_id": "nato", "answerable": True, "turns": [
        {"question": "Who commands the force?", "answers": []},
        {"question": "How many does it have?", "answers": ["4,000 troops"]}]}) + "\n", encoding="utf-8")
    ds = load_dataset(path)
    assert ds.questions[0].question == "How many does it have?"
    assert ds.questions[0].history == ["Who commands the force?"]
    fake = DialogueAssistant()
    with_history = run(path, progress=False, assistant=fake, write_report=False)
    assert fake.histories == [[], ["Who commands the force?"]]
    assert with_history["exact_match"] == 100.0
    assert with_history["predictions"][0]["history"][0]["question"] == "Who commands the force?"
    alone = run(path, progress=False, assistant=DialogueAssistant(), write_report=False, use_history=False)
    assert alone["exact_match"] == 0.0
    assert alone["meta"]["history"] is False


def test_a_dialogue_without_turns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "d1", "turns": []}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_dataset(path)


def test_reader_table_reuses_only_a_matching_report(dataset: Path, tmp_path: Path) -> None:
    from eval.reader_table import _reusable

    out = tmp_path / "seeds-I.json"
    run(dataset, out=out, progress=False, assistant=FakeAssistant(), reader="/r/one", articles=["nato"])
    assert _reusable(out, "/r/one", "open", ["nato"]) is not None
    assert _reusable(out, "/r/two", "open", ["nato"]) is None  # another reader
    assert _reusable(out, "/r/one", "gold", ["nato"]) is None  # another mode
    assert _reusable(out, "/r/one", "open", None) is None  # other questions
    assert _reusable(tmp_path / "missing.json", "/r/one", "open", None) is None
    # no settings on the assistant and no --top-k: the report says it does not know how many were read
    assert json.loads(out.read_text())["meta"]["top_k"] is None
