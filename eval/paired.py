"""How much two readers' reports on the same questions differ, beyond the luck of which questions were asked.

A ship decision compares two readers' expected F1 (``eval.squad.ANSWERABLE_PRIOR`` of the questions
answerable) on one question set. With a few hundred questions, part of any margin is the sample: this
paired bootstrap (``scipy.stats.bootstrap``, questions resampled with both readers' scores kept
together) gives the difference and its 95% interval. It does not measure the other noise, training
randomness, which only re-training with another ``--seed`` shows.

    rag eval ../shared/data/squad-v2.0-dev-a.json --articles "Pharmacy,Victoria_(Australia)" --reader A --out a.json
    rag eval ../shared/data/squad-v2.0-dev-a.json --articles "Pharmacy,Victoria_(Australia)" --reader B --out b.json
    python -m eval.paired a.json b.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import bootstrap

from eval.runner import load_report
from eval.squad import ANSWERABLE_PRIOR, prior_weights


def load_scores(path: str | Path) -> dict[str, tuple[float, bool]]:
    """Per question id: (F1, answerable) from a ``rag eval`` report. For an unanswerable question F1 is 1
    exactly when the reader abstained (the official v2.0 scoring), so expected F1 is a weighted mean."""
    data = load_report(Path(path))
    if "predictions" not in data:
        raise ValueError(f"{path}: not a rag eval report (no 'predictions')")
    return {str(p["id"]): (float(p["f1"]), bool(p["answerable"])) for p in data["predictions"]}


def expected_f1(f1: np.ndarray, answerable: np.ndarray, prior: float = ANSWERABLE_PRIOR) -> float:
    """Expected F1 (0-100) when ``prior`` of the questions are answerable: the two kinds' means, re-weighted."""
    weights = np.asarray(prior_weights(answerable.tolist(), prior))
    return float(100.0 * np.dot(weights, f1))


def compare(a: dict[str, tuple[float, bool]], b: dict[str, tuple[float, bool]], resamples: int = 10000,
            seed: int = 0, prior: float = ANSWERABLE_PRIOR) -> dict[str, Any]:
    """Expected F1 of A and B on their shared questions, A - B, its 95% paired-bootstrap interval
    (percentile) and the share of resamples in which A is ahead."""
    ids = sorted(set(a) & set(b))
    if not ids:
        raise ValueError("the two reports share no question ids")
    if any(a[i][1] != b[i][1] for i in ids):
        raise ValueError("the reports disagree on which questions are answerable")
    fa = np.array([a[i][0] for i in ids])
    fb = np.array([b[i][0] for i in ids])
    ans = np.array([a[i][1] for i in ids])

    def diff(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
        return expected_f1(x, z, prior) - expected_f1(y, z, prior)

    res = bootstrap((fa, fb, ans), diff, paired=True, vectorized=False, n_resamples=resamples,
                    confidence_level=0.95, method="percentile", rng=np.random.default_rng(seed))
    dist = res.bootstrap_distribution
    return {"questions": len(ids), "answerable": int(ans.sum()), "prior": prior,
            "a": round(expected_f1(fa, ans, prior), 2), "b": round(expected_f1(fb, ans, prior), 2),
            "a_minus_b": round(diff(fa, fb, ans), 2),
            "ci95": [round(float(res.confidence_interval.low), 2), round(float(res.confidence_interval.high), 2)],
            "a_ahead_share": round(float(np.mean(dist > 0)), 3), "resamples": resamples, "seed": seed,
            "only_in_a": len(a) - len(ids), "only_in_b": len(b) - len(ids)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="rag eval report (JSON) of reader A")
    ap.add_argument("b", help="rag eval report (JSON) of reader B, on the same questions")
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        result = compare(load_scores(args.a), load_scores(args.b), args.resamples, args.seed)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
