"""Fit the admission model: whether to answer with the reader's best span, from more evidence than its score.

The threshold rule answers when the best span's score reaches a threshold and beats the no-answer score
by a ratio. On SQuAD v2.0's unanswerable questions (written to look answerable from their paragraph) the
reader's scores separate poorly: reader III abstains on about a third of them. The admission model is a
logistic regression over ``rag.answer.ADMISSION_FEATURES`` (the reader's scores, how much of the question
the passages hold, the question's names missing from them, retrieval cosines, agreement among the
candidates, and whether the span has the shape the question asks for).

1. ``--dump``: every question of the tuning articles (SQuAD v2.0 dev-a ``select`` part) is asked as
   ``rag eval`` asks it (all dev-a paragraphs indexed, the reader's own ``top_k``), and its best span,
   scores and features are saved (JSON, one record per question).
2. Leave-one-article-out over those articles: for each regularisation ``C`` the model is fitted on the
   other articles and predicts the held-out one; the probability threshold with the highest expected F1
   (``ANSWERABLE_PRIOR`` answerable, ``rag_train.export.best_threshold``) is chosen on the pooled
   held-out predictions. The threshold rule is scored on the same questions (its threshold and ratio
   chosen on all of them, an advantage to it).
3. The model ships only if its held-out expected F1 beats the threshold rule's (fixed before the figures
   were seen); ``--write`` then fits it on every tuning question and records it (``admission`` in the
   reader's ``reader_config.json``, and a section of its model card).

    python -m rag_train.admission --reader rag/models/reader-minilm --dump ~/runs/adm.json [--write]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from eval import squad
from eval.datasets import load_dataset
from eval.runner import build_assistant, resolve_paths
from rag.answer import ADMISSION_FEATURES, Admission, AnswerSettings, admission_features
from rag.files import atomic_write_bytes
from rag.reader import READER_CONFIG
from rag_train.export import ANSWERABLE_PRIOR, apply_threshold, best_threshold, score_one, summarize
from rag_train.rechoose import rule_for

DATA = Path("../shared/data/squad-v2.0-dev-a.json")
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def dump(reader: Path, data: Path, examples: list[squad.SquadExample], top_k: int) -> list[dict[str, Any]]:
    """One record per question: its best span, scores, features and how right the span is (over the
    index ``rag eval`` keeps for ``data``: all its paragraphs)."""
    corpus, index = resolve_paths(load_dataset(data), None, None)
    qa: Any = build_assistant(corpus, index, str(reader))
    docs = {d.doc_id: d for d in qa.documents()}
    rows = []
    for ex in examples:
        passages = qa.retrieve(ex.question, k=top_k)
        spans, na = qa.read(ex.question, passages)
        feats = admission_features(ex.question, spans, na, passages, docs) if spans else None
        text = spans[0].text if spans else ""
        rows.append({"qid": ex.qid, "title": ex.title, "answerable": not ex.is_impossible, "text": text,
                     "score": spans[0].score if spans else 0.0, "no_answer": na,
                     "f1": score_one(text, ex.answers)[1] if text else 0.0, "features": feats})
    return rows


def matrix(rows: list[dict[str, Any]]) -> np.ndarray:
    """The feature matrix (questions without any span get the features of a hopeless answer)."""
    hopeless = {k: 0.0 for k in ADMISSION_FEATURES} | {"log_best": float(np.log(1e-4)), "missing_passage": 1.0}
    return np.array([[(r["features"] or hopeless)[k] for k in ADMISSION_FEATURES] for r in rows], dtype=float)


def targets(rows: list[dict[str, Any]], prior: float) -> tuple[np.ndarray, np.ndarray]:
    """(y, weight): answering is right when the question is answerable and the span's F1 is at least 0.5;
    weights re-balance the questions to ``prior`` answerable, as the threshold is chosen."""
    has = np.array([r["answerable"] for r in rows])
    y = has & (np.array([r["f1"] for r in rows]) >= 0.5)
    return y.astype(int), np.array(squad.prior_weights(has.tolist(), prior)) * len(rows)


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float) -> dict[str, Any]:
    """A standardised logistic regression, as plain numbers (``rag.answer.Admission``)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y, sample_weight=w)
    return {"features": list(ADMISSION_FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": lr.coef_[0].tolist(), "bias": float(lr.intercept_[0])}


def probability(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """``rag.answer.Admission.probability`` (what ``ask`` would compute) for each row of ``x``."""
    adm = Admission.model_validate(model | {"threshold": 0.5})
    return np.array([adm.probability(dict(zip(ADMISSION_FEATURES, row, strict=True))) for row in x])


def held_out(rows: list[dict[str, Any]], c: float, prior: float) -> np.ndarray:
    """Leave-one-article-out probabilities."""
    x = matrix(rows)
    y, w = targets(rows, prior)
    titles = np.array([r["title"] for r in rows])
    out = np.zeros(len(rows))
    for t in sorted(set(titles)):
        test = titles == t
        out[test] = probability(fit(x[~test], y[~test], w[~test], c), x[test])
    return out


def as_raw(rows: list[dict[str, Any]], scores: np.ndarray) -> dict[str, tuple[str, float, float]]:
    """Rows as ``best_threshold`` reads them, the score being the admission probability (ratio unused)."""
    return {r["qid"]: (r["text"], float(s), 0.0) for r, s in zip(rows, scores, strict=True)}


def summary(rows: list[dict[str, Any]], answered: np.ndarray, examples: list[squad.SquadExample]
            ) -> dict[str, float]:
    """Has-answer F1 and no-answer accuracy (the SQuAD scorer) when ``answered`` says which rows answer."""
    preds = {r["qid"]: r["text"] if a else "" for r, a in zip(rows, answered, strict=True)}
    scores = summarize(preds, examples)
    return {"has_answer_f1": round(scores["HasAns_f1"], 2), "no_answer_accuracy": round(scores["NoAns_accuracy"], 2),
            "answered": round(100 * float(answered.mean()), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--reader", type=Path, default=Path("rag/models/reader-minilm"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="select", help="the part of eval/splits/dev-a.json to fit on")
    ap.add_argument("--dump", type=Path, required=True, help="the questions' features (made if absent)")
    ap.add_argument("--write", action="store_true", help="record the model in the reader's folder if it wins")
    args = ap.parse_args(argv)

    settings = AnswerSettings.from_reader_config(args.reader)
    sf = squad.read(args.data)
    wanted = set(squad.read_article_split(squad.SPLIT_FILE)[args.split])
    examples = [e for e in sf.examples if e.title in wanted]
    if args.dump.is_file():
        rows = json.loads(args.dump.read_text(encoding="utf-8"))
    else:
        rows = dump(args.reader, args.data, examples, settings.top_k)
        atomic_write_bytes(args.dump, json.dumps(rows).encode("utf-8"))
    by_qid = {e.qid: e for e in examples}
    exs = [by_qid[r["qid"]] for r in rows]
    prior = ANSWERABLE_PRIOR

    base_raw = {r["qid"]: (r["text"], r["score"], r["no_answer"]) for r in rows}
    base = rule_for(base_raw, exs)
    base_preds = apply_threshold(base_raw, base["threshold"], base["answer_ratio"])
    base_answered = np.array([bool(base_preds[r["qid"]]) for r in rows])
    result: dict[str, Any] = {"questions": len(rows), "articles": sorted(wanted), "prior": prior,
                              "threshold_rule": {"threshold": base["threshold"], "answer_ratio": base["answer_ratio"],
                                                 "expected_f1": base["expected_f1"],
                                                 **summary(rows, base_answered, exs)},
                              "admission": {}}
    for c in C_GRID:
        p = held_out(rows, c, prior)
        t, value = best_threshold(as_raw(rows, p), exs, prior, 0.0)
        result["admission"][str(c)] = {"threshold": round(t, 4), "expected_f1": round(100 * value, 2),
                                       **summary(rows, (p >= t) & np.array([bool(r["text"]) for r in rows]), exs)}
        print(c, json.dumps(result["admission"][str(c)]), flush=True)
    best_c = max(C_GRID, key=lambda c: result["admission"][str(c)]["expected_f1"])
    chosen = result["admission"][str(best_c)]
    result["chosen_c"] = best_c
    result["wins"] = chosen["expected_f1"] > result["threshold_rule"]["expected_f1"]
    print(json.dumps(result, indent=1))
    if args.write and result["wins"]:
        y, w = targets(rows, prior)
        model = fit(matrix(rows), y, w, best_c) | {"threshold": chosen["threshold"]}
        record(args.reader, model, result)
    return 0


def record(reader: Path, model: dict[str, Any], result: dict[str, Any]) -> None:
    """``admission`` into the reader's ``reader_config.json`` (atomically) and a section of its card."""
    path = reader / READER_CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    config["admission"] = model
    atomic_write_bytes(path, (json.dumps(config, indent=2) + "\n").encode("utf-8"))
    base, chosen = result["threshold_rule"], result["admission"][str(result["chosen_c"])]
    lines = ["", "## Admission model (`python -m rag_train.admission`)", "",
             f"Whether to answer is decided by a logistic regression over {len(model['features'])} features "
             f"(`rag.answer.ADMISSION_FEATURES`), fitted on {result['questions']} SQuAD v2.0 questions of "
             f"{len(result['articles'])} tuning articles, C={result['chosen_c']} and probability threshold "
             f"**{model['threshold']:.4f}** chosen leave-one-article-out. Held-out expected F1 "
             f"({result['prior']:.0%} answerable) {chosen['expected_f1']} against {base['expected_f1']} for the "
             f"threshold rule (chosen on all of them); has-answer F1 {chosen['has_answer_f1']} / "
             f"{base['has_answer_f1']}, no-answer accuracy {chosen['no_answer_accuracy']} / "
             f"{base['no_answer_accuracy']}.", "",
             "| feature | weight (standardised) |", "|---|---|"]
    lines += [f"| {f} | {w:+.3f} |" for f, w in zip(model["features"], model["weights"], strict=True)]
    card = reader / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    text = text.split("\n## Admission model")[0].rstrip("\n") + "\n" + "\n".join(lines) + "\n"
    atomic_write_bytes(card, text.encode("utf-8"))


if __name__ == "__main__":
    raise SystemExit(main())
