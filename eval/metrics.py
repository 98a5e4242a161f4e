"""Scoring: retrieval ranks and the report summary; EM/F1 come from ``eval.squad`` (the one SQuAD module).

EM and F1 follow the official SQuAD v2.0 evaluation script: lower-case, strip punctuation and the
articles a/an/the, collapse white space; token F1; the maximum over the gold answers. A question with
no gold answer (after normalisation) is scored against the empty string, so abstaining (an empty or
``None`` prediction) scores 1 on it and any answer scores 0.

Per question, ``em`` is 0 or 1 and ``f1`` is in [0, 1]; every summary figure is a percentage (0-100)
except ``mrr`` (0-1) and the latencies (milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from eval.squad import exact_match, f1_score, get_tokens, gold_answers, score_prediction

__all__ = ["exact_match", "f1_score", "get_tokens", "gold_answers", "score_prediction", "gold_rank", "recall_at",
           "dedupe", "percentile", "summarize", "calibration_error"]


def gold_rank(retrieved_doc_ids: Sequence[str], gold_doc_id: str) -> int | None:
    """1-based rank of the gold document among the retrieved documents (duplicates collapsed)."""
    for rank, doc_id in enumerate(dedupe(retrieved_doc_ids), start=1):
        if doc_id == gold_doc_id:
            return rank
    return None


def recall_at(ranked: Sequence[Sequence[str]], gold: Sequence[str], k: int) -> float:
    """Share (0-1) of questions whose gold document is among the first ``k`` distinct documents of their
    ranking (``gold_rank`` <= k)."""
    hits = [(r := gold_rank(docs, g)) is not None and r <= k for docs, g in zip(ranked, gold, strict=True)]
    return sum(hits) / len(hits) if hits else 0.0


def dedupe(items: Iterable[str]) -> list[str]:
    """``items`` in order, each kept at its first occurrence."""
    return list(dict.fromkeys(items))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation, or None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _pct(numerator: float, denominator: int) -> float | None:
    return 100.0 * numerator / denominator if denominator else None


def _mean_pct(values: Sequence[float]) -> float | None:
    return _pct(sum(values), len(values))


def calibration_error(pairs: Sequence[tuple[float, float]], bins: int = 10) -> float | None:
    """Expected calibration error in points: over equal-width confidence bins, the answers' share times
    |mean confidence - fraction exactly right|. None without answers."""
    if not pairs:
        return None
    total = 0.0
    for b in range(bins):
        inside = [(c, em) for c, em in pairs if b / bins <= c < (b + 1) / bins or (b == bins - 1 and c >= 1.0)]
        if inside:
            gap = abs(sum(c for c, _ in inside) - sum(em for _, em in inside)) / len(inside)
            total += len(inside) / len(pairs) * gap
    return 100.0 * total


RIGHT_F1 = 0.5  # a candidate whose F1 with a gold answer reaches this overlaps the answer at least half


def candidate_hit(rec: dict[str, Any], exact: bool = False, k: int = 3) -> bool:
    """An answerable question one of whose first ``k`` candidates is right: EM with a gold answer when
    ``exact``, else F1 >= ``RIGHT_F1``."""
    if not rec["answerable"]:
        return False
    scores = [score_prediction(c, rec["answers"]) for c in rec.get("candidates", [])[:k]]
    return any(em for em, _ in scores) if exact else any(f1 >= RIGHT_F1 for _, f1 in scores)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary figures over scored per-question records.

    Each record needs ``em``, ``f1``, ``answerable`` and ``prediction``; optionally ``gold_rank`` (with
    ``doc_id`` set when retrieval counts) and ``read_doc_id`` (the article of the answer's first passage),
    ``citation_ok`` (None when not applicable), ``quote_hit``
    (answerable questions: the top quote holds a gold answer verbatim; an abstention has no quote) and
    ``latency_ms``, ``status`` and ``candidates`` (the "not sure" figures). Figures over an empty set
    are None.
    """
    has = [r for r in records if r["answerable"]]
    no = [r for r in records if not r["answerable"]]
    abstained = [r for r in records if r["prediction"] is None or r["prediction"] == ""]
    correct_abstentions = sum(1 for r in abstained if not r["answerable"])
    ranked = [r for r in records if r.get("doc_id") is not None and "gold_rank" in r]
    ranks = [r["gold_rank"] for r in ranked]
    read = [r["read_doc_id"] == r["doc_id"] for r in ranked if "read_doc_id" in r]
    cited = [r["citation_ok"] for r in records if r.get("citation_ok") is not None]
    quoted = [r.get("quote_hit") for r in has]
    latencies = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    confident = [(float(r["confidence"]), r["em"]) for r in records
                 if r.get("confidence") is not None and r["prediction"] not in (None, "")]

    # answerable questions not answered outright: is a right candidate shown ("not sure")?
    not_answered = [r for r in has if r["prediction"] in (None, "") and "error" not in r]
    shown = [r for r in not_answered if r.get("status") == "unsure"]

    def recall_at(k: int) -> float | None:
        return _pct(sum(1 for x in ranks if x is not None and x <= k), len(ranks))

    return {
        "n": len(records),
        "n_has_answer": len(has),
        "n_no_answer": len(no),
        "exact_match": _mean_pct([r["em"] for r in records]),
        "f1": _mean_pct([r["f1"] for r in records]),
        "has_answer_exact_match": _mean_pct([r["em"] for r in has]),
        "has_answer_f1": _mean_pct([r["f1"] for r in has]),
        "no_answer_accuracy": _pct(sum(1 for r in no if r["em"]), len(no)),
        "abstention_rate": _pct(len(abstained), len(records)),
        "abstention_precision": _pct(correct_abstentions, len(abstained)),
        "abstention_recall": _pct(correct_abstentions, len(no)),
        "n_retrieval": len(ranks),
        "recall@1": recall_at(1),
        "recall@5": recall_at(5),
        "recall@10": recall_at(10),
        "mrr": sum(1.0 / x for x in ranks if x) / len(ranks) if ranks else None,
        "read@1": _pct(sum(read), len(read)),
        "n_citation": len(cited),
        "citation_accuracy": _mean_pct([float(x) for x in cited]),
        "quote_hit": _pct(sum(1 for x in quoted if x), len(has)),
        "n_confidence": len(confident),
        "confidence_mean": _mean_pct([c for c, _ in confident]),
        "confidence_ece": calibration_error(confident),
        "unsure_rate": _pct(sum(1 for r in records if r.get("status") == "unsure"), len(records)),
        "n_not_answered": len(not_answered),
        "unsure_right_em": _pct(sum(1 for r in shown if candidate_hit(r, exact=True)), len(not_answered)),
        "unsure_right_f1": _pct(sum(1 for r in shown if candidate_hit(r)), len(not_answered)),
        "latency_ms_p50": percentile(latencies, 50),
        "latency_ms_p95": percentile(latencies, 95),
    }
