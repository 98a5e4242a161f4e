"""Filters people ask for: publication dates and sources, in the API, the CLI and the chat's settings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.errors import UnknownDocument
from rag.indexer import update_index
from rag.ingest import published_date
from rag.retriever import DocFilter
from rag.store import ChunkingConfig

from .conftest import FakeEmbedder

RECORDS = [
    {"id": "latvia", "title": "Canada in Latvia", "date": "2016-06-14", "text": "OTTAWA (Reuters) - Canada will lead "
     "the NATO battlegroup in Latvia with 450 soldiers."},
    {"id": "estonia", "title": "Britain in Estonia", "date": "March 3, 2017", "text": "LONDON (BBC) - Britain will "
     "lead the NATO battlegroup in Estonia with 800 soldiers."},
    {"id": "undated", "title": "Germany in Lithuania", "text": "Germany will lead the NATO battlegroup in Lithuania."},
]


@pytest.mark.parametrize(("text", "day"), [
    ("2016-06-14", dt.date(2016, 6, 14)), ("August 1, 2003", dt.date(2003, 8, 1)),
    ("14 June 2016", dt.date(2016, 6, 14)),
    ("2019-08-02T10:00:00+02:00", dt.date(2019, 8, 2)), ("May 3", None), ("2016", None), ("soon", None), (None, None),
])
def test_published_date_needs_a_whole_day(text: str | None, day: dt.date | None) -> None:
    assert published_date(text) == day


@pytest.fixture
def qa(tmp_path: Path) -> Assistant:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bg.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    emb = FakeEmbedder()
    update_index(corpus, tmp_path / "index", emb, ChunkingConfig(max_tokens=60, overlap=1))
    return Assistant(tmp_path / "index", emb, reader="sentence")  # type: ignore[arg-type]


def docs_of(qa: Assistant, where: DocFilter | None, doc_ids: list[str] | None = None) -> set[str]:
    return {p.doc_id for p in qa.retrieve("NATO battlegroup soldiers", k=10, doc_ids=doc_ids, where=where)}


def test_dates_and_sources_limit_what_is_retrieved_and_answered(qa: Assistant) -> None:
    assert docs_of(qa, None) == {"latvia", "estonia", "undated"}
    assert docs_of(qa, DocFilter(since=dt.date(2017, 1, 1))) == {"estonia"}
    assert docs_of(qa, DocFilter(until=dt.date(2016, 6, 14))) == {"latvia"}  # both ends included
    assert docs_of(qa, DocFilter(sources=("reuters",))) == {"latvia"}  # case does not matter
    assert docs_of(qa, DocFilter(sources=("Reuters", "BBC")), doc_ids=["estonia"]) == {"estonia"}
    ans = qa.ask("Who leads the battlegroup?", where=DocFilter(since=dt.date(2030, 1, 1)))
    assert ans.text is None and ans.passages == [] and ans.notice is not None and "filter" in ans.notice
    ans = qa.ask("How many soldiers?", where=DocFilter(sources=("BBC",)))
    assert all(c.doc_id == "estonia" for c in ans.citations) and all(p.doc_id == "estonia" for p in ans.passages)
    with pytest.raises(UnknownDocument):
        qa.retrieve("NATO", doc_ids=["nope"], where=DocFilter(sources=("BBC",)))


def test_cli_filters(qa: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flags reach ``ask`` as a filter (the index opened is this test's, with its fast embedder)."""
    from typer.testing import CliRunner

    from rag.cli import app

    monkeypatch.setattr(Assistant, "open", classmethod(lambda cls, *a, **k: qa))
    runner = CliRunner()
    done = runner.invoke(app, ["ask", "How many soldiers?", "--source", "BBC", "--json"])
    assert done.exit_code == 0, done.output
    assert {p["doc_id"] for p in json.loads(done.stdout)["passages"]} == {"estonia"}
    done = runner.invoke(app, ["ask", "How many soldiers?", "--since", "2030-01-01"])
    assert done.exit_code == 0 and "do not answer" in done.stdout and "filter" in done.stderr
    done = runner.invoke(app, ["ask", "How many soldiers?", "--until", "14/06/2016"])
    assert done.exit_code != 0


def test_chat_settings_become_a_filter() -> None:
    from ui.app import doc_filter

    assert doc_filter("", " ", []) == DocFilter()
    assert doc_filter("2016-01-01", "2016-12-31", ["BBC"]) == DocFilter(
        since=dt.date(2016, 1, 1), until=dt.date(2016, 12, 31), sources=("BBC",))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        doc_filter("14/06/2016", "", None)
