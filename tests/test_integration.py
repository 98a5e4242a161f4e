"""End to end on the seeds with the real embedding model: index, re-index, ask, abstain, offsets."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from rag import Answer, Assistant
from rag.errors import EmptyQuestion
from rag.reader import ReaderUnavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qa(real_seeds_index: tuple[Path, Path]) -> Assistant:
    return Assistant.open(real_seeds_index[1], reader="sentence")


def check_offsets(qa: Assistant, ans: Answer) -> None:
    for c in ans.citations:
        text = qa.document(c.doc_id).text
        assert text[c.quote_start : c.quote_end] == c.quote
        if ans.text is not None:
            assert text[c.answer_start : c.answer_end] == ans.text  # type: ignore[misc]
    for p in ans.passages:
        assert qa.document(p.doc_id).text[p.start : p.end] == p.text


@pytest.mark.parametrize(
    ("question", "doc_id", "must_contain"),
    [
        ("Who is the supreme allied commander of NATO?", "001_537bed74b42447d1", "John Craddock"),
        ("How big is the rotating force NATO is building on its eastern flank?", "000_dcecbc81de0b1c39", "4,000"),
        ("How many US soldiers have been killed since Bush declared an end to the war?", "002_656a127584ff5753",
         "Fifty"),
        ("Where will the NATO defence ministers meet this week?", "001_537bed74b42447d1", "Budapest"),
    ],
)
def test_answers_with_exact_quotes(qa: Assistant, question: str, doc_id: str, must_contain: str) -> None:
    ans = qa.ask(question)
    assert ans.text is not None and ans.answerer == "sentence"
    assert ans.citations[0].doc_id == doc_id
    assert must_contain in ans.citations[0].quote
    assert 0.0 <= ans.score <= 1.0
    check_offsets(qa, ans)
    again = Answer.model_validate_json(ans.model_dump_json())
    assert again == ans


def test_abstains_when_articles_do_not_say(qa: Assistant) -> None:
    ans = qa.ask("What is the boiling point of mercury?")
    assert ans.text is None and ans.citations == [] and ans.passages
    check_offsets(qa, ans)


def test_retrieve_and_filter(qa: Assistant) -> None:
    ps = qa.retrieve("Secretary-General George Robertson go-anywhere alliance", k=10)
    assert ps[0].doc_id == "002_656a127584ff5753"
    only = qa.retrieve("NATO", k=10, doc_ids=["000_dcecbc81de0b1c39"])
    assert {p.doc_id for p in only} == {"000_dcecbc81de0b1c39"}
    ans = qa.ask("Who is the supreme allied commander of NATO?", doc_ids=["000_dcecbc81de0b1c39"])
    assert all(c.doc_id == "000_dcecbc81de0b1c39" for c in ans.citations)


def test_bad_questions(qa: Assistant) -> None:
    with pytest.raises(EmptyQuestion):
        qa.ask("   \n\t ")
    long = qa.ask("Who is the commander? " + "x " * 3000)
    assert long.notice and "truncated" in long.notice
    odd = qa.ask("Who\x00 is\u200b the\x07 commander\ufeff?")
    check_offsets(qa, odd)


def test_threads_agree_with_sequential(qa: Assistant) -> None:
    questions = ["Who is the supreme allied commander of NATO?", "Where will ministers meet?", "How many troops?"] * 4
    expected = [qa.ask(q).model_dump_json() for q in questions]
    results: list[str | None] = [None] * len(questions)

    def work(i: int) -> None:
        results[i] = qa.ask(questions[i]).model_dump_json()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


def test_reindex_add_and_remove(tmp_path: Path, real_seeds_index: tuple[Path, Path]) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(real_seeds_index[0], corpus)
    index = tmp_path / "index"
    shutil.copytree(real_seeds_index[1], index)
    # The copied index still points at the other corpus folder; building from ours re-points it.
    (corpus / "lat.json").write_text(json.dumps({
        "id": "latvia-brigade", "title": "Canada to lead Latvia battlegroup", "date": "2016-07-08",
        "text": "OTTAWA--Canada will lead the NATO battlegroup in Latvia, Prime Minister Justin Trudeau said on "
                "Friday, sending 450 soldiers to the Baltic country.",
    }))
    (corpus / "001_537bed74b42447d1.txt").unlink()
    qa = Assistant.build(corpus, index_dir=index, reader="sentence")
    rep = qa.last_report
    assert rep is not None and rep.added == ["latvia-brigade"] and rep.removed == ["001_537bed74b42447d1"]
    assert rep.unchanged == 2 and rep.chunks_embedded == 1
    ans = qa.ask("How many soldiers will Canada send to Latvia?")
    assert ans.citations and ans.citations[0].doc_id == "latvia-brigade" and "450" in (ans.text or "")
    assert "001_537bed74b42447d1" not in {d.doc_id for d in qa.documents()}
    qa.delete("latvia-brigade")
    assert not (corpus / "lat.json").exists()
    assert "latvia-brigade" not in {d.doc_id for d in Assistant.open(index, reader="sentence").documents()}


# ---- the shipped span reader, end to end (the default users get) --------------------------------
@pytest.fixture(scope="module")
def qa_reader(real_seeds_index: tuple[Path, Path]) -> Assistant:
    from rag.reader import DEFAULT_MODEL_DIR

    if not (DEFAULT_MODEL_DIR / "config.json").exists():
        pytest.skip(f"no shipped reader at {DEFAULT_MODEL_DIR}")
    return Assistant.open(real_seeds_index[1])


@pytest.mark.parametrize(
    ("question", "answers", "doc_id"),
    [
        ("Who is the supreme allied commander of NATO?",
         ("John Craddock", "Gen. John Craddock", "US Gen. John Craddock"), "001_537bed74b42447d1"),
        ("How big is the rotating force NATO is building on its eastern flank?", ("4,000", "4,000 troops"),
         "000_dcecbc81de0b1c39"),
        ("What was the Senate's vote on the non-binding resolution?", ("97-0",), "002_656a127584ff5753"),
        ("Where will the NATO defence ministers meet this week?", ("Budapest", "in Budapest"), "001_537bed74b42447d1"),
    ],
)
def test_reader_answers_short_exact_spans(qa_reader: Assistant, question: str, answers: tuple[str, ...],
                                          doc_id: str) -> None:
    ans = qa_reader.ask(question)
    assert ans.answerer == "reader" and ans.text in answers
    c = ans.citations[0]
    assert c.doc_id == doc_id and ans.text in c.quote
    assert c.quote_start <= c.answer_start < c.answer_end <= c.quote_end  # type: ignore[operator]
    check_offsets(qa_reader, ans)


@pytest.mark.parametrize("question", ["What is the boiling point of mercury?", "Who won the 1998 World Cup final?"])
def test_reader_abstains_when_articles_do_not_say(qa_reader: Assistant, question: str) -> None:
    ans = qa_reader.ask(question)
    assert ans.answerer == "reader" and ans.text is None and ans.citations == [] and ans.passages
    check_offsets(qa_reader, ans)
    # threshold 0 never abstains: the best span comes back, cited and offset-exact
    forced = qa_reader.ask(question, threshold=0.0)
    assert forced.text is not None and forced.citations
    check_offsets(qa_reader, forced)


def test_read_is_what_ask_decides_on(qa_reader: Assistant, qa: Assistant) -> None:
    """``read`` returns the re-scored spans ``ask`` decides on (best first, offset-exact); with the sentence
    weight at 0 they are the reader's own scores, and re-scoring only ever lowers a span's score."""
    question = "What authority runs civilian affairs in Iraq?"
    passages = qa_reader.retrieve(question, k=5)
    raw, na_raw = qa_reader.read(question, passages, settings=qa_reader.settings.override(sentence_weight=0.0))
    spans, no_answer = qa_reader.read(question, passages)
    assert spans and 0.0 <= no_answer <= 1.0 and no_answer == na_raw
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    raw_score = {(s.doc_id, s.start, s.end): s.score for s in raw}
    assert all(s.score <= raw_score[(s.doc_id, s.start, s.end)] + 1e-12 for s in spans)
    for s in spans:
        assert qa_reader.document(s.doc_id).text[s.start : s.end] == s.text
    assert qa_reader.ask(question, top_k=5, threshold=0.0).text == spans[0].text  # the same 5 passages
    with pytest.raises(ReaderUnavailable):
        qa.read(question, passages)  # the sentence fallback has no spans


def test_a_follow_up_is_read_with_the_previous_turn(qa_reader: Assistant) -> None:
    """The follow-up rule runs inside ``ask``: the resolved question is recorded and offsets stay exact; a
    question that stands alone is asked exactly as without history."""
    first = qa_reader.ask("Who is the supreme allied commander of NATO?")
    follow = qa_reader.ask("Who did he start talks with?", history=[first])
    assert follow.question == "Who did he start talks with?"
    assert follow.resolved_question is not None
    if first.text is not None and first.text[:1].isupper():
        assert follow.resolved_question == f"Who did {first.text} start talks with?"
    check_offsets(qa_reader, follow)
    alone = "How many US soldiers have been killed in Iraq?"
    with_history, without = qa_reader.ask(alone, history=[first]), qa_reader.ask(alone)
    assert with_history.resolved_question is None
    assert (with_history.text, with_history.score) == (without.text, without.score)


def test_unsure_candidates_come_from_more_passages_without_changing_the_decision(qa_reader: Assistant) -> None:
    """With ``unsure_top_k`` an unsure answer's candidates are read from more passages (offset-exact, among
    the spans of those passages); the decision, the score and the passages shown are those of top_k."""
    question = "What is the boiling point of mercury?"  # the articles do not say: the rule abstains
    s = qa_reader.settings.override(unsure_threshold=0.0, top_k=2)  # every abstention is "unsure"
    narrow, wide = qa_reader.ask(question, settings=s), qa_reader.ask(question, settings=s.override(unsure_top_k=5))
    assert narrow.status == wide.status == "unsure" and narrow.text is None and wide.text is None
    assert (wide.score, wide.passages) == (narrow.score, narrow.passages)
    spans, _ = qa_reader.read(question, qa_reader.retrieve(question, k=5), settings=s)
    assert [c.text for c in wide.candidates] == [sp.text for sp in spans[: s.candidates]]
    check_offsets(qa_reader, wide)
    for c in wide.candidates:
        text = qa_reader.document(c.citation.doc_id).text
        assert text[c.citation.quote_start : c.citation.quote_end] == c.citation.quote
        assert text[c.citation.answer_start : c.citation.answer_end] == c.text  # type: ignore[misc]


def test_second_stage_reads_the_passages_the_reader_ranks_first(qa_reader: Assistant) -> None:
    """With ``rerank_depth`` ``ask`` retrieves that many passages, orders them by retrieval score plus the
    reader's evidence (``Assistant.rerank``) and decides on the first ``top_k``: what ``read`` finds there. The
    answer shows all the passages in that order."""
    question = "Where will the NATO defence ministers meet this week?"
    s = qa_reader.settings.override(top_k=2, rerank_depth=5, threshold=0.0)  # always answers: compare spans
    ans = qa_reader.ask(question, settings=s)
    ranked = qa_reader.rerank(question, qa_reader.retrieve(question, k=5), settings=s)
    assert [p.rank for p in ranked] == list(range(5)) and all(p.evidence is not None for p in ranked)
    weighed = [p.score + s.rerank_weight * p.evidence for p in ranked]  # type: ignore[operator]
    assert weighed == sorted(weighed, reverse=True)
    assert [p.chunk_id for p in ans.passages] == [p.chunk_id for p in ranked]
    spans, _ = qa_reader.read(question, ranked[:2], settings=s)
    assert ans.text == spans[0].text
    check_offsets(qa_reader, ans)
    plain = qa_reader.ask(question, settings=s.model_copy(update={"rerank_depth": None}))
    plain_first = qa_reader.retrieve(question, k=2)
    assert [p.chunk_id for p in plain.passages] == [p.chunk_id for p in plain_first]
    assert all(p.evidence is None for p in plain.passages)
