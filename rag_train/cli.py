"""The reader-training command line: ``python -m rag_train`` (or ``rag-train-reader``): train, resume,
export. Kept apart from ``rag_train.reader`` (training) and ``rag_train.export`` (validation and export),
which do not import each other's callers."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from rag.reader import DEFAULT_MODEL_DIR
from rag_train import reader
from rag_train.export import evaluate_and_export
from rag_train.reader import (
    DEFAULT_TRAIN_FILES,
    TrainConfig,
    _setup_logging,
    final_from_checkpoint,
    parse_extra_file,
    resolve_data_path,
    train,
)


# ------------------------------------------------------------------------------------------ CLI
def recipe(card: Path = DEFAULT_MODEL_DIR / "README.md") -> str:
    """The shipped reader's recipe for ``--help``: the training commands of its model card (which the export
    writes from the run itself, so they cannot drift from what was trained), and where the rest is."""
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return f"The shipped reader's model card ({card}) is missing: its training commands cannot be shown."
    section = text.partition("\n## Training")[2]
    block = section.partition("```")[2].partition("```")[0].strip("\n")
    if not block:
        return f"The shipped reader's model card ({card}) has no training commands."
    head = textwrap.fill("The shipped reader was trained by these commands, each stage from the last one's "
                         f"weights (its model card, {card}):", 100)
    tail = textwrap.fill("On a fresh machine an earlier stage's weights come back from git without retraining: "
                         "python -m rag_train.from_onnx --commit C --out RUN (docs/reader.md). Then the rule is "
                         "chosen end to end: python -m rag_train.rechoose --reader DIR --split select --top-k 1 2 "
                         "--rerank-depth 3 --write.", 100)
    return f"{head}\n\n{block}\n\n{tail}"


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m rag_train", description=(reader.__doc__ or "").split("\n")[0],
                                epilog=recipe(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=d.out, help="run folder (checkpoints, log, final model)")
    p.add_argument("--base-model", default=None, help="base weights (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--train-file", action="append", dest="train_files", help="SQuAD-format JSON (repeatable)")
    p.add_argument("--holdout-title", action="append", dest="holdout_titles", help="held-out article title")
    p.add_argument("--holdout-count", type=int, default=d.holdout_count)
    p.add_argument("--max-len", type=int, default=d.max_len)
    p.add_argument("--stride", type=int, default=d.stride, help="token overlap between windows")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup", type=float, default=d.warmup, help="warm-up fraction of total steps")
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--max-examples", type=int, default=0)
    p.add_argument("--sample-questions", type=int, default=0,
                   help="train on whole articles of the training files in a seeded order, about N questions "
                        "(all dev-a fit ones kept)")
    p.add_argument("--sample-skip", type=int, default=0,
                   help="with --sample-questions: skip the first N questions' worth of articles (an earlier slice)")
    p.add_argument("--extra-file", action="append", dest="extra_files", metavar="PATH:N",
                   help="also train on about N questions of whole articles of PATH, sampled apart from the main "
                        "files (repeatable; measures one qa-train file's addition without moving the main slice)")
    p.add_argument("--extra-max-chars", type=int, default=d.extra_max_chars, metavar="N",
                   help="cut an --extra-file question's context longer than N characters to the blank-line "
                        "block holding its answer (whole papers, as in COVID-QA; 0: off)")
    p.add_argument("--negative-window-keep", type=float, default=d.negative_window_keep)
    p.add_argument("--split-file", default=d.split_file,
                   help="dev-a article split (JSON); only its 'fit' articles of dev-a are trained on ('' : none)")
    p.add_argument("--bf16", action="store_true",
                   help="bf16 autocast (only on CPUs with AVX512-BF16/AMX; emulated it is 20x slower than fp32)")
    p.add_argument("--bucket", type=int, default=d.bucket, help="length bucketing: batches per sorted run (1: off)")
    p.add_argument("--snapshot-every", type=int, default=0, help="keep the model weights every N steps")
    p.add_argument("--hard-negatives", type=float, default=d.hard_negatives,
                   help="per answerable question, this many related paragraphs of its article as no-answer examples")
    p.add_argument("--swapped-questions", type=float, default=d.swapped_questions,
                   help="share of answerable questions also trained as unanswerable copies with a name or year "
                        "swapped for one their paragraph lacks (rag_train.unanswerable)")
    p.add_argument(
        "--train-word-embeddings",
        action="store_true",
        help="also fine-tune the word-embedding matrix (frozen by default, for speed)",
    )
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sample-seed", type=int, default=None,
                   help="seed of the data sample (--sample-questions articles, --extra-file questions); default "
                        "--seed. With it, --seed re-draws only the training randomness on the same questions")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt if present")
    p.add_argument("--skip-train", action="store_true", help="do not train; use <out>/final")
    p.add_argument(
        "--from-checkpoint",
        action="store_true",
        help="with --skip-train: first write <out>/final from <out>/checkpoint.pt (a run stopped early)",
    )
    p.add_argument(
        "--export",
        default=None,
        metavar="DIR",
        help="after training: evaluate on the held-out articles, pick the threshold, export fp16 to DIR",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    cfg = TrainConfig(
        out=args.out,
        base_model=args.base_model,
        train_files=args.train_files or list(DEFAULT_TRAIN_FILES),
        holdout_titles=args.holdout_titles or [],
        holdout_count=args.holdout_count,
        split_file=args.split_file or None,
        bf16=args.bf16,
        bucket=args.bucket,
        snapshot_every=args.snapshot_every,
        max_len=args.max_len,
        stride=args.stride,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup=args.warmup,
        epochs=args.epochs,
        max_steps=args.max_steps,
        max_examples=args.max_examples,
        sample_questions=args.sample_questions,
        sample_skip=args.sample_skip,
        extra_files=args.extra_files or [],
        extra_max_chars=args.extra_max_chars,
        negative_window_keep=args.negative_window_keep,
        hard_negatives=args.hard_negatives,
        swapped_questions=args.swapped_questions,
        freeze_word_embeddings=not args.train_word_embeddings,
        save_every=args.save_every,
        seed=args.seed,
        sample_seed=args.sample_seed,
        threads=args.threads,
        resume=args.resume,
    )
    try:
        extra = [parse_extra_file(x)[0] for x in cfg.extra_files]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for f in [*cfg.train_files, *extra]:
        if not resolve_data_path(f).exists():
            print(f"error: training file not found: {f}", file=sys.stderr)
            return 2
    final = Path(cfg.out) / "final"
    if not args.skip_train:
        final = train(cfg)
    elif args.from_checkpoint:
        _setup_logging(Path(cfg.out))
        final = final_from_checkpoint(Path(cfg.out), cfg.base_model)
    elif not (final / "config.json").exists():
        print(f"error: no trained model at {final}", file=sys.stderr)
        return 2
    else:
        _setup_logging(Path(cfg.out))  # the export's figures go to <out>/train.log as well
    if args.export:
        evaluate_and_export(final, Path(args.export), cfg)
    return 0


