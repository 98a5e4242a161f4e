"""How well the logit average of several readers extracts: the ceiling a distilled single reader could aim at.

Weight averaging (``rag_train.soup``) of the fine-tunings of reader IV lifts extraction by about a point at
most. Averaging their outputs (the start and end logits of every window, before the softmax) is the
classic ensemble, and it is the teacher that knowledge distillation would copy into one reader of the
shipped size. This measures it, with the gold paragraph on the tuning articles (SQuAD v1.1 dev-a
``select``: every question answerable, the best span always taken, as SQuAD v1.1 scores), beside each
member on the same questions in the same run. It is not a shipped reader: reading with N models costs
N times the reader's time.

    python -m rag_train.ensemble DIR1 DIR2 ... [--data ../shared/data/squad-v1.1-dev-a.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval import squad
from rag.files import atomic_write_bytes
from rag.reader import SpanReader
from rag_train.export import apply_threshold, raw_predictions

DATA = Path("../shared/data/squad-v1.1-dev-a.json")


def averaged(members: Sequence[SpanReader]) -> SpanReader:
    """One reader whose every forward pass is the mean of the members' start and end logits. The members
    must share a tokenizer (fine-tunings of one base); the first one's tokenizer and settings are used."""
    runners = [m._run for m in members]

    def run(feed: dict[str, Any]) -> tuple[Any, Any]:
        outs = [r(feed) for r in runners]
        return sum(o[0] for o in outs) / len(outs), sum(o[1] for o in outs) / len(outs)

    first = members[0]
    return SpanReader(first._tok, run, first.settings, "ensemble", first.backend, first._input_names,
                      first._pad_id, first.folder)


def always_answering(reader: SpanReader, examples: Sequence[squad.SquadExample]) -> dict[str, float]:
    """EM and F1 of the best span with the gold paragraph (never abstaining)."""
    raw = raw_predictions(reader, examples)  # type: ignore[arg-type]  # SquadExample has QAExample's fields
    s = squad.summarize(apply_threshold(raw, 0.0), examples)  # threshold 0: always answer
    return {"exact": s["exact"], "f1": s["f1"], "total": s["total"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("members", type=Path, nargs="+", help="reader folders (int8 ONNX exports)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    # the articles settings are chosen on: never trained on (unlike ``fit``), never the test half
    wanted = set(squad.read_article_split(squad.SPLIT_FILE)["select"])
    examples = [e for e in squad.read(args.data).examples if e.title in wanted and not e.is_impossible]
    readers = [SpanReader.load(m) for m in args.members]
    rows: dict[str, Any] = {}
    for path, reader in zip(args.members, readers, strict=True):
        rows[str(path)] = always_answering(reader, examples)
        print(json.dumps({str(path): rows[str(path)]}), flush=True)
    rows["ensemble"] = always_answering(averaged(readers), examples)
    print(json.dumps({"ensemble": rows["ensemble"]}), flush=True)
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(rows, indent=1) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
