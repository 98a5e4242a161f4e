"""A reader as committed at some point, for comparisons: write its files from the repository's history.

Reader I (trained on 7.5k SQuAD dev-a questions) shipped from commit ``d8193dd`` until reader III
(2026-12-02, 36k SQuAD-train questions, ``docs/reader.md``) replaced it; ``ae0323e`` is a commit that holds
it, with the rule it shipped with (top_k 5, threshold 0.0419, ratio 0.2; its rule re-chosen on tuning
articles is top_k 4, threshold 0.001, ratio 0.3: ``python -m rag_train.rechoose --reader DIR --write``).
A reader's 23 MB are not kept twice in the work tree: the old one comes back from git:

    python -m rag_train.previous ~/old-reader
    rag eval eval/seeds.jsonl --reader ~/old-reader
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from rag.files import atomic_write_bytes

COMMIT = "ae0323e"
FOLDER = "rag/models/reader-minilm"
FILES = ("README.md", "config.json", "eval_report.json", "model.int8.onnx", "reader_config.json",
         "tokenizer.json", "tokenizer_config.json")
ROOT = Path(__file__).resolve().parents[1]


def write_previous(dest: Path, commit: str = COMMIT) -> Path:
    """The previous reader's files, as committed at ``commit``, written into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        blob = subprocess.run(["git", "show", f"{commit}:{FOLDER}/{name}"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        atomic_write_bytes(dest / name, blob)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--commit", default=COMMIT)
    args = ap.parse_args(argv)
    print(write_previous(args.dest, args.commit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
