"""Question sets: our JSONL format and SQuAD v1.1/v2.0 JSON, plus reproducible sampling.

JSONL: one object a line, ``{"id", "question", "answers", "doc_id", "answerable"}``; ``doc_id`` is the
gold document (a corpus file name without its extension) or null.

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

from rag.files import atomic_write_bytes, file_sha256

CORPUS_FILE = "paragraphs.jsonl"


class Question(BaseModel):
    """One evaluation question."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answers: list[str]
    doc_id: str | None = None
    answerable: bool = True

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


def squad_records(data: dict[str, Any]) -> tuple[list[dict[str, str]], list[Question]]:
    """Corpus records (one per distinct paragraph) and questions from parsed SQuAD JSON."""
    documents: list[dict[str, str]] = []
    questions: list[Question] = []
    by_text: dict[str, str] = {}  # identical paragraphs share one document (the indexer would merge them)
    for ai, article in enumerate(data["data"]):
        title = str(article.get("title", "")).replace("_", " ")
        for pi, para in enumerate(article["paragraphs"]):
            text = para["context"]
            doc_id = by_text.get(text)
            if doc_id is None:
                doc_id = by_text[text] = f"{ai:03d}-{pi:03d}"
                documents.append({"id": doc_id, "title": title, "text": text})
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = [] if impossible else [a["text"] for a in qa["answers"]]
                questions.append(Question(id=str(qa["id"]), question=qa["question"], answers=answers,
                                          doc_id=doc_id, answerable=not impossible))
    return documents, questions


def load_squad(path: Path) -> Dataset:
    """Read a SQuAD v1.1 or v2.0 JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path}: not a SQuAD file (no top-level 'data' list)")
    documents, questions = squad_records(data)
    return Dataset(path=path, kind="squad", sha256=file_sha256(path), questions=questions,
                   version=data.get("version"), documents=documents)


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


def write_corpus(documents: Sequence[dict[str, str]], folder: Path) -> Path:
    """Write the records as ``folder/paragraphs.jsonl`` (atomically; untouched when unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / CORPUS_FILE
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents)
    if target.is_file() and target.read_text(encoding="utf-8") == payload:
        return target
    atomic_write_bytes(target, payload.encode("utf-8"))
    return target
