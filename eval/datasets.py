"""Question sets: our JSONL format and SQuAD v1.1/v2.0 JSON, plus reproducible sampling.

JSONL: one object a line, ``{"id", "question", "answers", "doc_id", "answerable"}``; ``doc_id`` is the
gold document (a corpus file name without its extension) or null. A dialogue set has ``"turns": [{"question",
"answers"}, ...]`` in place of ``question`` and ``answers``: the last turn is the one scored, and the earlier
turns' questions become its ``history`` (asked first, in order, when the evaluation uses the history).

SQuAD: every paragraph becomes one document ``{"id": "<article>-<paragraph>", "title", "text"}``
(zero-padded indices, so ids are stable for a given file); a question's gold document is its
paragraph. v1.1 questions are all answerable; v2.0 marks the rest with ``is_impossible``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from eval import squad
from eval.squad import CORPUS_FILE
from rag.files import file_sha256

__all__ = ["CORPUS_FILE", "Dataset", "Question", "load_dataset", "load_jsonl", "load_squad", "sample", "write_corpus"]


class Question(BaseModel):
    """One evaluation question."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answers: list[str]
    doc_id: str | None = None
    answerable: bool = True
    history: list[str] = []  # a dialogue's earlier questions, oldest first

    @model_validator(mode="before")
    @classmethod
    def _dialogue(cls, data: Any) -> Any:
        """A dialogue record: its last turn is the question, the earlier ones its history."""
        if isinstance(data, dict) and "turns" in data:
            turns = data["turns"]
            if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
                raise ValueError("turns must be a non-empty list of {question, answers}")
            data = {k: v for k, v in data.items() if k != "turns"}
            data.update(question=turns[-1].get("question", ""), answers=turns[-1].get("answers", []),
                        history=[t.get("question", "") for t in turns[:-1]])
        return data

    @model_validator(mode="after")
    def _check(self) -> Question:
        if not self.id.strip() or not self.question.strip():
            raise ValueError("id and question must not be empty")
        if self.answerable and not any(a.strip() for a in self.answers):
            raise ValueError("an answerable question needs at least one answer")
        return self


@dataclass
class Dataset:
    """A loaded question set; ``documents`` holds the corpus records of a SQuAD file (else empty)."""

    path: Path
    kind: Literal["jsonl", "squad"]
    sha256: str
    questions: list[Question]
    version: str | None = None
    documents: list[dict[str, str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem


def load_jsonl(path: Path) -> Dataset:
    """Read a JSONL question set; raises ValueError naming the bad line."""
    questions: list[Question] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = Question.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as e:
            raise ValueError(f"{path}:{n}: {e}") from None
        if q.id in seen:
            raise ValueError(f"{path}:{n}: duplicate id {q.id!r}")
        seen.add(q.id)
        questions.append(q)
    return Dataset(path=path, kind="jsonl", sha256=file_sha256(path), questions=questions)


def load_squad(path: Path) -> Dataset:
    """Read a SQuAD v1.1 or v2.0 file (through ``eval.squad``: one corpus id scheme everywhere)."""
    sf = squad.read(path)
    questions = [Question(id=e.qid, question=e.question, answers=e.answers, doc_id=e.doc_id,
                          answerable=not e.is_impossible) for e in sf.examples]
    return Dataset(path=path, kind="squad", sha256=file_sha256(path), questions=questions,
                   version=sf.version, documents=sf.documents)


def load_dataset(path: str | Path) -> Dataset:
    """A ``.jsonl`` question set or a SQuAD ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset file {path}")
    return load_jsonl(path) if path.suffix.lower() == ".jsonl" else load_squad(path)


def sample(questions: Sequence[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """``limit`` questions drawn reproducibly with ``seed`` (kept in file order), or all of them."""
    if limit is None or limit >= len(questions):
        return list(questions)
    if limit < 0:
        raise ValueError("limit must not be negative")
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


write_corpus = squad.write_corpus
