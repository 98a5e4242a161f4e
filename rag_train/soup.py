"""Average the weights of readers fine-tuned along one training run (a "model soup", Wortsman et al. 2022).

Usage (from the project root)::

    python -m rag_train.soup --out runs/reader-soup runs/reader-e4/final runs/reader-hn/final
    python -m rag_train --out runs/reader-soup --skip-train --export rag/models/reader-minilm

Readers fine-tuned from one another (a run and its continuation) sit in one basin of the loss, and their
uniform average often generalises better than either; it costs nothing at inference. The members must
share an architecture and their held-out articles (else the average would have seen the validation
questions). ``<out>/final`` gets the averaged fp32 weights; ``<out>/train_meta.json`` copies the last
member's run record (data, hyper-parameters, held-out articles) and adds ``soup``: the members and this
command, which the model card quotes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.files import atomic_write_bytes
from rag_train.reader import recorded_meta

COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json")


class SoupError(ValueError):
    """The members cannot be averaged (different shapes, or different held-out articles)."""


def run_meta(member: Path) -> dict[str, Any]:
    """The ``train_meta.json`` of the run whose final model ``member`` is (``<run>/final``)."""
    meta = recorded_meta(member)
    if meta is None:
        raise SoupError(f"{member} is not the final model of a training run (no {member.parent / 'train_meta.json'})")
    return meta


def average(members: Sequence[Path], out: Path) -> Path:
    """Write the uniform average of ``members`` to ``<out>/final`` and its record; return the folder."""
    import torch
    from safetensors.torch import load_file, save

    if len(members) < 2:
        raise SoupError("a soup needs at least two members")
    metas = [run_meta(m) for m in members]
    titles = {tuple(m.get("holdout_titles") or ()) for m in metas}
    if len(titles) != 1 or not next(iter(titles)):
        raise SoupError(f"the members hold out different articles: {sorted(titles)}")
    configs = [json.loads((m / "config.json").read_text()) for m in members]
    if any(c != configs[0] for c in configs[1:]):
        raise SoupError("the members' config.json differ: not one architecture")
    states = [load_file(str(m / "model.safetensors")) for m in members]
    keys = set(states[0])
    if any(set(s) != keys or any(s[k].shape != states[0][k].shape for k in keys) for s in states[1:]):
        raise SoupError("the members' weights differ in names or shapes")
    avg = {k: torch.stack([s[k].to(torch.float64) for s in states]).mean(0).to(states[0][k].dtype)
           for k in sorted(keys)}
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(final / "model.safetensors", save(avg, metadata={"format": "pt"}))
    for name in COPIED:
        if (members[-1] / name).exists():
            shutil.copy(members[-1] / name, final / name)
    meta = dict(metas[-1])
    meta["soup"] = {
        "members": [str(m) for m in members],
        "command": "python -m rag_train.soup --out " + str(out) + "".join(f" {m}" for m in members),
    }
    atomic_write_bytes(out / "train_meta.json", json.dumps(meta, indent=2).encode())
    return final


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("members", nargs="+", type=Path, help="final model folders (<run>/final) to average")
    p.add_argument("--out", type=Path, required=True, help="run folder for the soup (writes <out>/final)")
    args = p.parse_args(argv)
    try:
        final = average(args.members, args.out)
    except (SoupError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"averaged {len(args.members)} readers into {final}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
