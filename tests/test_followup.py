"""The follow-up rule (rag.followup): which questions lean on the previous turn, and how they are resolved.

The fixtures are made-up turns about made-up people, not questions of eval/dialogues.jsonl.
"""

from __future__ import annotations

import pytest

from rag.followup import leans_on_previous, resolve
from rag.schema import Answer, Turn


@pytest.mark.parametrize("question", [
    "Who did she meet in Oslo?", "When did it open?", "And the second one?", "What about Norway?",
    "Where?", "Why not now?", "On what date?", "Why did they agree to that?", "How long did that take?",
    "Who said so?",
])
def test_questions_that_point_back(question: str) -> None:
    assert leans_on_previous(question)


@pytest.mark.parametrize("question", [
    "Who is the mayor of Oslo?", "How many ships did the Danish navy send to the Baltic Sea?",
    "When was the harbour bridge in Bergen opened?", "Is there a plan to close the Bergen harbour?",
    "Which one of the Nordic navies sent the most ships?",
])
def test_questions_that_stand_alone(question: str) -> None:
    assert not leans_on_previous(question)


def test_a_question_that_stands_alone_is_not_changed() -> None:
    prev = Turn(question="Who runs the harbour authority?", answer="Ingrid Dahl")
    res = resolve("How many ships did the Danish navy send to the Baltic Sea?", [prev])
    assert res.rule == ""
    assert res.question == res.search == res.asked


def test_no_history_no_change() -> None:
    res = resolve("Who did she meet?", [])
    assert (res.question, res.search, res.rule) == ("Who did she meet?", "Who did she meet?", "")


def test_person_pronouns_become_the_previous_answer_when_it_is_a_name() -> None:
    prev = Turn(question="Who runs the harbour authority?", answer="Ingrid Dahl")
    res = resolve("Who did she meet in Oslo?", [prev])
    assert res.question == "Who did Ingrid Dahl meet in Oslo?"
    assert res.rule == "person"
    assert "Who runs the harbour authority?" in res.search and "Ingrid Dahl" in res.search
    assert resolve("What was her budget?", [prev]).question == "What was Ingrid Dahl's budget?"
    assert resolve("Who elected her?", [prev]).question == "Who elected Ingrid Dahl?"
    assert resolve("Who elected her, and when?", [prev]).question == "Who elected Ingrid Dahl, and when?"


def test_person_pronouns_fall_back_to_who_is_x_without_a_name_answer() -> None:
    prev = Turn(question="Who is the head of the harbour authority?", answer=None)
    assert resolve("When did he start?", [prev]).question == "When did the head of the harbour authority start?"


def test_bare_wh_phrase_takes_the_rest_of_the_previous_question() -> None:
    prev = Turn(question="Who did Ingrid Dahl meet in Oslo?", answer="the minister")
    assert resolve("When?", [prev]).question == "When did Ingrid Dahl meet in Oslo?"
    assert resolve("And where?", [prev]).question == "Where did Ingrid Dahl meet in Oslo?"


def test_bare_wh_phrase_after_a_subject_question_puts_the_answer_in_its_place() -> None:
    prev = Turn(question="Who opened the bridge?", answer="King Harald")
    assert resolve("On what date?", [prev]).question == "On what date King Harald opened the bridge?"
    prev = Turn(question="Which city will host the summit?", answer="Bergen")
    assert resolve("When?", [prev]).question == "When Bergen will host the summit?"


def test_what_about_swaps_the_name() -> None:
    prev = Turn(question="How many ships did Denmark send?", answer="four")
    res = resolve("What about Norway?", [prev])
    assert res.question == "How many ships did Norway send?"
    assert res.rule == "about"


def test_it_and_they_are_left_to_retrieval() -> None:
    prev = Turn(question="Which bridge did King Harald open?", answer="the harbour bridge")
    res = resolve("How long is it?", [prev])
    assert res.question == "How long is it?"
    assert res.rule == "context"
    assert res.search.startswith("How long is it?") and "harbour bridge" in res.search


def test_they_and_them_become_an_answer_that_names_several_things() -> None:
    prev = Turn(question="Which navies sent ships to the Baltic Sea?", answer="Denmark and Norway")
    res = resolve("How many ships did each of them send?", [prev])
    assert res.question == "How many ships did each of Denmark and Norway send?" and res.rule == "plural"
    prev = Turn(question="What did the harbour bridge replace?", answer="ferries")
    assert resolve("When did they stop running?", [prev]).question == "When did ferries stop running?"
    prev = Turn(question="How many ships did Denmark send?", answer="12 ships")  # a count is not a thing
    assert resolve("Where did they sail?", [prev]).rule == "context"


def test_only_the_last_turn_is_used_and_it_carries_its_own_resolution() -> None:
    first = Turn(question="Who runs the harbour authority?", answer="Ingrid Dahl")
    second = Turn(question="Who did she meet?", resolved="Who did Ingrid Dahl meet?", answer="the minister")
    assert resolve("When?", [first, second]).question == "When did Ingrid Dahl meet?"


def test_turn_of_an_answer() -> None:
    ans = Answer(question="Who did she meet?", text="the minister", score=0.9,
                 resolved_question="Who did Ingrid Dahl meet?")
    assert Turn.of(ans) == Turn(question="Who did she meet?", resolved="Who did Ingrid Dahl meet?",
                                answer="the minister")
