"""Which reader to ship: span accuracy of several readers on SQuAD training articles none of them saw.

The dev-a articles cannot decide between a new reader and the shipped one: earlier readers were trained
on most of them. A run trained with ``--sample-questions`` leaves most articles of the SQuAD v1.1
training file untouched, and no earlier reader saw that file at all, so questions drawn from the
untouched articles are fair to every reader. Each question is read with its gold paragraph and scored
always answering (best span, official SQuAD EM/F1): the extraction skill the decision rule builds on.

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

from eval import squad
from rag.reader import SpanReader
from rag.schema import Passage
from rag_train.reader import QAExample, load_squad, recorded_config, recorded_meta, sampled_titles

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
    args = ap.parse_args(argv)
    examples = unseen_questions(args.run, args.sample, args.seed)
    scores: dict[str, dict[str, float]] = {}
    for folder in args.readers:
        scores[folder] = span_scores(folder, examples)
        print(folder, scores[folder], file=sys.stderr)
    out = {"questions": len(examples), "articles": len({e.title for e in examples}), "readers": scores}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
