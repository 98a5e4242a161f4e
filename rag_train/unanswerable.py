"""Unanswerable questions made from answerable ones, the way SQuAD 2.0's writers made many of theirs.

SQuAD 2.0's unanswerable questions are plausible questions about a paragraph that it does not answer,
most often with a name or a number swapped for one the paragraph does not hold ("What year did Rihanna
release Lemonade?" over a paragraph on Beyoncé's album). Hard negatives (another paragraph of the
article) do not teach that: a reader learns to refuse a paragraph about something else and still answers
a swapped question over the right one (reader4, 2026-12-02: 85% of hard negatives refused, 85% of
Pharmacy's SQuAD 2.0 unanswerable questions answered).

``swapped_questions`` makes such questions. In an answerable question, a name that its paragraph
contains, or a year, is replaced by another of the same kind that the paragraph does not hold:
- a name's kind comes from the training data itself (no NER model is available offline): a name that
  is the gold answer of a "Who ..." question is a person, of a "Where ..." question a place; names of
  no known kind are not swapped;
- a year becomes a year 1 to 20 away.
The paragraph stays; the target is no answer. Deterministic in ``seed``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from rag_train.reader import QAExample

_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|de|von|van|the)\s+)?(?:[A-Z]\.|[A-Z][\w'’-]*))*")
_YEAR = re.compile(r"\b1[5-9]\d\d\b|\b20[0-2]\d\b")
_KINDS = (("who", "person"), ("whom", "person"), ("where", "place"))


def names(question: str) -> list[str]:
    """Runs of capitalised words in ``question`` after its first word (possessives left out)."""
    return [m.group(0) for m in _NAME.finditer(question)
            if m.start() > 0 and not m.group(0).endswith(("'s", "’s"))]


def name_kinds(examples: Sequence[QAExample]) -> dict[str, str]:
    """Names whose kind the data says: the gold answer of a who-question (person) or a where-question
    (place); a name answering both is left out."""
    seen: dict[str, set[str]] = {}
    for ex in examples:
        first = ex.question.strip().split(" ", 1)[0].lower()
        kind = dict(_KINDS).get(first)
        if kind is None or ex.is_impossible:
            continue
        for a in ex.answers:
            a = a.strip()
            if a and a[0].isupper() and len(a.split()) <= 4 and names(f"x {a}") == [a]:
                seen.setdefault(a.casefold(), set()).add(kind)
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


def _swap(old: str, kind: str, context: str, pool: dict[str, list[str]], rng: random.Random) -> str | None:
    if kind == "year":
        years = [str(int(old) + d) for d in range(-20, 21) if d and str(int(old) + d) not in context]
        return rng.choice(years) if years else None
    options = pool.get(kind, [])
    for _ in range(20 if options else 0):
        pick = rng.choice(options)
        if pick.casefold() not in context.casefold() and pick.casefold() != old.casefold():
            return pick
    return None


def swapped_questions(examples: Sequence[QAExample], per_question: float, seed: int = 0,
                      names_from: Sequence[QAExample] | None = None) -> list[QAExample]:
    """About ``per_question`` swapped, unanswerable copies per answerable question of ``examples`` (see
    the module); the kinds of names, and the names put in, come from ``names_from`` (default:
    ``examples``), e.g. the whole training file when ``examples`` is a slice of it."""
    if per_question <= 0:
        return []
    rng = random.Random(seed)
    source = examples if names_from is None else names_from
    kinds = name_kinds(source)
    pool: dict[str, list[str]] = {}
    for ex in source:
        for a in ex.answers:
            kind = kinds.get(a.strip().casefold())
            if kind is not None:
                pool.setdefault(kind, []).append(a.strip())
    out: list[QAExample] = []
    for ex in examples:
        if ex.is_impossible or rng.random() >= per_question:
            continue
        context = ex.context.casefold()
        spans = [(m, kinds[m.casefold()]) for m in names(ex.question)
                 if m.casefold() in kinds and m.casefold() in context]
        spans += [(y, "year") for y in _YEAR.findall(ex.question) if y in ex.context]
        if not spans:
            continue
        old, kind = rng.choice(spans)
        new = _swap(old, kind, ex.context, pool, rng)
        if new is None:
            continue
        question = re.sub(rf"(?<![\w]){re.escape(old)}(?![\w])", new, ex.question, count=1)
        if question == ex.question:
            continue
        out.append(QAExample(qid=f"{ex.qid}-swap", title=ex.title, context=ex.context, question=question,
                             answers=[], answer_starts=[], source="swapped"))
    return out
