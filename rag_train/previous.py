"""The previous reader, for comparisons: write its files from the repository's history to a folder.

Reader I (trained on 7.5k SQuAD dev-a questions) was shipped until commit ``ae0323e``; it is not the
default any more, and its 23 MB are not kept twice in the work tree. Its files come back from git:

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
