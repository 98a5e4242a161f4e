"""The seed question set is well-formed and its answers are verbatim in the articles."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from eval.datasets import load_jsonl

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def test_seed_set_is_valid() -> None:
    ds = load_jsonl(ROOT / "eval" / "seeds.jsonl")  # also checks the schema and unique ids
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    assert len(ds.questions) >= 80
    assert len({q.id for q in ds.questions}) == len(ds.questions)
    assert sum(not q.answerable for q in ds.questions) >= 12
    for q in ds.questions:
        if q.doc_id is not None:
            assert q.doc_id in texts, q.id
        if q.answerable:
            assert q.doc_id is not None and q.answers, q.id
            for a in q.answers:
                assert a in texts[q.doc_id], f"{q.id}: {a!r} is not verbatim in {q.doc_id}"
        else:
            assert q.answers == [], q.id


def test_seed_set_mixes_question_types_and_articles() -> None:
    ds = load_jsonl(ROOT / "eval" / "seeds.jsonl")
    kinds = Counter(q.id.split("-")[1] for q in ds.questions)
    assert {"fact", "para", "clause", "cross", "unans"} <= kinds.keys()
    assert min(kinds[k] for k in ("para", "clause", "cross")) >= 10
    per_doc = Counter(q.doc_id for q in ds.questions if q.answerable)
    assert len(per_doc) == 3 and min(per_doc.values()) >= 20
