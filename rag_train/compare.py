"""Which reader to ship: span accuracy of several readers on SQuAD training articles none of them saw.

The dev-a articles cannot decide between a new reader and the shipped one: earlier readers were trained
on most of them. A run trained with ``--sample-questions`` leaves most articles of the SQuAD v1.1
training file untouched, and no earlier reader saw that file at all, so questions drawn from the
untouched articles are fair to every reader. Each question is read with its gold paragraph and scored
always answering (best span, official SQuAD EM/F1): the extraction skill the decision rule builds on.

With ``--negatives`` each question is also read with a hard negative: the paragraph of its article that
shares most words with it and holds no gold answer (what retrieval hands the reader when the answer is
elsewhere). Reported per reader: ``abstain_neg`` (abstentions on the negatives at the reader's own
rule, ``reader_config.json``), ``answer_pos_em`` (EM on the gold paragraphs at that rule, abstaining
counts as wrong) and ``auc``: how well ``best / (best + no_answer)`` separates gold paragraphs from
negatives (threshold-free: 0.5 is chance, 1 perfect).

    python -m rag_train.compare --run ~/runs/reader2 rag/models/reader-minilm ~/old-reader --sample 1000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval import squad
from rag.answer import AnswerSettings, answer_ratio
from rag.reader import SpanReader
from rag.schema import Passage
from rag_train.reader import QAExample, hard_negatives, load_squad, recorded_config, recorded_meta, sampled_titles

SQUAD_TRAIN = "../shared/data/qa-train/squad_v1.1_train_explorer.json.gz"


def seen_titles(run: Path) -> set[str]:
    """The SQuAD-train articles the run at ``run`` trained on, and every run it started from
    (``--base-model <run>/final``, followed back to the packaged weights)."""
    seen: set[str] = set()
    meta: dict[str, Any] | None = json.loads((run / "train_meta.json").read_text())
    while meta is not None:
        cfg = recorded_config(meta)
        if not cfg.sample_questions:
            raise SystemExit(f"{cfg.out} trained on every training article: no unseen questions")
        seen |= set(sampled_titles(cfg))
        meta = recorded_meta(Path(cfg.base_model)) if cfg.base_model else None
    return seen


def unseen_questions(run: Path, n: int, seed: int = 0) -> list[QAExample]:
    """``n`` questions (seeded) from SQuAD-train articles that neither the run at ``run`` nor any run it
    continued trained on."""
    seen = seen_titles(run)
    pool = [e for e in load_squad(SQUAD_TRAIN) if e.title not in seen]
    rng = random.Random(seed)
    return sorted(rng.sample(pool, min(n, len(pool))), key=lambda e: e.qid)


def unseen_negatives(examples: list[QAExample]) -> list[QAExample]:
    """One hard negative per question of ``examples`` (from its own article), where its article has one."""
    titles = {e.title for e in examples}
    article = [e for e in load_squad(SQUAD_TRAIN) if e.title in titles]
    wanted = {e.qid for e in examples}
    return [n for n in hard_negatives(article, 1) if n.qid.rsplit("-neg", 1)[0] in wanted]


def _read(reader: SpanReader, ex: QAExample) -> tuple[str, float, float]:
    passage = Passage(chunk_id=0, doc_id=ex.title, title=ex.title, start=0, end=len(ex.context),
                      text=ex.context, score=1.0)
    spans, no_answer = reader.read(ex.question, [passage], top_n=1)
    return (spans[0].text, spans[0].score, no_answer) if spans else ("", 0.0, no_answer)


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a positive scores above a negative), ties counting half (the ROC AUC)."""
    pos, neg = np.asarray(positive), np.asarray(negative)
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def abstention_scores(folder: str, examples: list[QAExample], negatives: list[QAExample]) -> dict[str, float]:
    """The reader's own rule on gold paragraphs and hard negatives (see the module docstring)."""
    reader = SpanReader.load(folder)
    # the threshold rule: an admission model weighs retrieval evidence a lone gold paragraph lacks
    settings = AnswerSettings.from_reader_config(reader.folder).model_copy(update={"admission": None})
    preds: dict[str, str | None] = {}
    pos, neg = [], []
    for ex in examples:
        text, best, no_answer = _read(reader, ex)
        preds[ex.qid] = text if settings.accepts(best, no_answer) else ""
        pos.append(answer_ratio(best, no_answer))
    abstained = 0
    for ex in negatives:
        _, best, no_answer = _read(reader, ex)
        abstained += not settings.accepts(best, no_answer)
        neg.append(answer_ratio(best, no_answer))
    at_rule = squad.summarize(preds, examples)
    abstain = round(100.0 * abstained / max(1, len(negatives)), 2)
    return {"answer_pos_em": at_rule["HasAns_exact"], "abstain_neg": abstain,
            "auc": round(auc(pos, neg), 4), "negatives": len(negatives),
            "threshold": settings.threshold, "answer_ratio": settings.answer_ratio}


def span_scores(folder: str, examples: list[QAExample]) -> dict[str, float]:
    """Best span always taken, gold paragraph given: EM and F1 (percent) and seconds."""
    reader = SpanReader.load(folder)
    preds: dict[str, str | None] = {}
    t0 = time.perf_counter()
    for ex in examples:
        passage = Passage(chunk_id=0, doc_id=ex.title, title=ex.title, start=0, end=len(ex.context),
                          text=ex.context, score=1.0)
        spans, _ = reader.read(ex.question, [passage], top_n=1)
        preds[ex.qid] = spans[0].text if spans else ""
    summary = squad.summarize(preds, examples)
    return {"em": summary["HasAns_exact"], "f1": summary["HasAns_f1"], "n": summary["HasAns_total"],
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("readers", nargs="+", help="reader folders")
    ap.add_argument("--run", type=Path, required=True, help="the new reader's run folder (its unseen articles)")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negatives", action="store_true", help="also score abstention on hard negatives")
    args = ap.parse_args(argv)
    examples = unseen_questions(args.run, args.sample, args.seed)
    negatives = unseen_negatives(examples) if args.negatives else []
    scores: dict[str, dict[str, float]] = {}
    for folder in args.readers:
        scores[folder] = span_scores(folder, examples)
        if args.negatives:
            scores[folder].update(abstention_scores(folder, examples, negatives))
        print(folder, scores[folder], file=sys.stderr)
    out = {"questions": len(examples), "articles": len({e.title for e in examples}), "readers": scores}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
