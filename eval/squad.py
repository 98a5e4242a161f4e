"""SQuAD in one place: reading the files, the paragraph corpus (one id scheme) and the official scoring.

Used by the evaluation suite, the reader's training and export (``rag_train``) and the benchmarks, so
that a question, its gold paragraph's document id and its EM/F1 mean the same thing everywhere.

- Files: SQuAD v1.1 / v2.0 JSON, plain or gzip (``.json.gz``, as in ``../shared/data/qa-train/``).
- Corpus: every distinct paragraph is one document ``{"id": "<article>-<paragraph>", "title", "text"}``
  with zero-padded indices (``"003-012"``); identical paragraphs share the first one's id.
- Scoring: the official SQuAD v2.0 evaluation script: lower-case, strip punctuation and the articles
  a/an/the, collapse white space; token F1; the maximum over the gold answers. A question with no gold
  answer is scored against the empty string, so abstaining (``None`` or ``""``) scores 1 on it.
"""

from __future__ import annotations

import collections
import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag import normalize_answer
from rag.files import atomic_write_bytes

CORPUS_FILE = "paragraphs.jsonl"


@dataclass
class SquadExample:
    """One SQuAD question with its paragraph; ``answers`` empty means unanswerable."""

    qid: str
    title: str  # the article's title as in the file (``Harvard_University``)
    context: str
    question: str
    answers: list[str]
    answer_starts: list[int]  # character offsets in ``context``, parallel to ``answers``
    doc_id: str = ""  # the paragraph's corpus document id
    source: str = ""  # the file's name

    @property
    def is_impossible(self) -> bool:
        return not self.answers


@dataclass
class SquadFile:
    """A parsed SQuAD file: its corpus records and its questions, in file order."""

    path: Path
    version: str | None
    documents: list[dict[str, str]] = field(default_factory=list)
    examples: list[SquadExample] = field(default_factory=list)


def read_json(path: str | Path) -> Any:
    """JSON from a plain or gzip file."""
    p = Path(path)
    opener = gzip.open if p.name.endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as f:
        return json.load(f)


def parse(data: Any, path: str | Path = "") -> SquadFile:
    """Corpus records (one per distinct paragraph) and questions from parsed SQuAD JSON."""
    p = Path(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{p}: not a SQuAD file (no top-level 'data' list)")
    out = SquadFile(path=p, version=data.get("version"))
    by_text: dict[str, str] = {}  # identical paragraphs share one document (the indexer would merge them)
    for ai, article in enumerate(data["data"]):
        title = str(article.get("title", ""))
        for pi, para in enumerate(article["paragraphs"]):
            text = para["context"]
            doc_id = by_text.get(text)
            if doc_id is None:
                doc_id = by_text[text] = f"{ai:03d}-{pi:03d}"
                out.documents.append({"id": doc_id, "title": title.replace("_", " "), "text": text})
            for qa in para["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = [] if impossible else list(qa.get("answers", []))
                out.examples.append(SquadExample(
                    qid=str(qa["id"]), title=title, context=text, question=qa["question"],
                    answers=[a["text"] for a in answers], answer_starts=[int(a["answer_start"]) for a in answers],
                    doc_id=doc_id, source=p.name,
                ))
    return out


def read(path: str | Path) -> SquadFile:
    """Read a SQuAD v1.1 or v2.0 file (``.json`` or ``.json.gz``)."""
    return parse(read_json(path), path)


def write_corpus(documents: Sequence[dict[str, str]], folder: Path) -> Path:
    """Write the records as ``folder/paragraphs.jsonl`` (atomically; untouched when unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / CORPUS_FILE
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents)
    if target.is_file() and target.read_text(encoding="utf-8") == payload:
        return target
    atomic_write_bytes(target, payload.encode("utf-8"))
    return target


def read_article_split(path: str | Path) -> dict[str, list[str]]:
    """The dev-a article split (``eval/splits/dev-a.json``): ``tune``, ``test``, ``fit`` and ``select``."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("version") not in (1, 2):  # 2: the same halves, Victoria_(Australia) moved from fit to select
        raise ValueError(f"{path}: unknown split version {data.get('version')!r}")
    return {k: list(data[k]) for k in ("tune", "test", "fit", "select")}


SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "dev-a.json"
# The share of answerable questions the answering rules are chosen for: SQuAD 2.0 articles are half
# unanswerable, while people asking about their own articles mostly ask what the articles say.
ANSWERABLE_PRIOR = 0.75


def prior_weights(answerable: Sequence[bool], prior: float = ANSWERABLE_PRIOR) -> list[float]:
    """Per-question weights that re-balance ``answerable`` (one flag a question) to ``prior`` answerable;
    they sum to 1 when both kinds are present."""
    n_has = max(1, sum(bool(a) for a in answerable))
    n_no = max(1, sum(not a for a in answerable))
    return [prior / n_has if a else (1.0 - prior) / n_no for a in answerable]


# ---- official scoring ---------------------------------------------------------------------------
def get_tokens(s: str | None) -> list[str]:
    """The normalised tokens of ``s`` (none for an empty or missing answer)."""
    return normalize_answer(s).split() if s else []


def exact_match(prediction: str | None, gold: str) -> int:
    """1 when the normalised prediction equals the normalised gold answer, else 0."""
    return int(normalize_answer(prediction or "") == normalize_answer(gold))


def f1_score(prediction: str | None, gold: str) -> float:
    """Token-overlap F1 between prediction and one gold answer, in [0, 1]."""
    gold_toks = get_tokens(gold)
    pred_toks = get_tokens(prediction)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)  # both empty (agreed no-answer) is a hit
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Iterable[str]) -> list[str]:
    """The gold answers that survive normalisation, or ``[""]`` for a question with no answer."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def score_prediction(prediction: str | None, answers: Sequence[str]) -> tuple[int, float]:
    """(EM, F1) of one prediction, maximised over the gold answers; ``None`` or ``""`` means abstain."""
    golds = gold_answers(answers)
    return max(exact_match(prediction, g) for g in golds), max(f1_score(prediction, g) for g in golds)


def summarize(predictions: Mapping[str, str | None], examples: Sequence[SquadExample]) -> dict[str, float]:
    """The official v2.0 summary (percentages): exact, f1, HasAns_*, NoAns_accuracy, with counts."""
    em_all: list[float] = []
    f1_all: list[float] = []
    em_has: list[float] = []
    f1_has: list[float] = []
    no_ok: list[float] = []
    for ex in examples:
        em, f1 = score_prediction(predictions.get(ex.qid), ex.answers)
        em_all.append(em)
        f1_all.append(f1)
        if ex.is_impossible:
            no_ok.append(em)
        else:
            em_has.append(em)
            f1_has.append(f1)

    def pct(xs: list[float]) -> float:
        return round(100.0 * sum(xs) / len(xs), 2) if xs else float("nan")

    return {
        "exact": pct(em_all), "f1": pct(f1_all), "total": len(em_all),
        "HasAns_exact": pct(em_has), "HasAns_f1": pct(f1_has), "HasAns_total": len(em_has),
        "NoAns_accuracy": pct(no_ok), "NoAns_total": len(no_ok),
    }
