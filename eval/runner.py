"""Run a question set through the assistant and score it: one REPORT.json (+ Markdown report beside it).

Uses only the public API (``rag.Assistant``). Per question it times ``ask`` (the latency figures),
and ranks the gold document among ``retrieve(question, k=10)`` over the whole corpus (the retrieval
figures, whatever the mode), and notes the article of the answer's first passage (``read@1``: after
``ask``'s second stage, the passage the reader ranked first). ``mode="gold"`` restricts ``ask`` to the
gold document; questions without one are asked over the whole corpus.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from eval.datasets import Dataset, Question, load_dataset, sample, write_corpus
from eval.metrics import dedupe, gold_rank, score_prediction, summarize
from rag.files import atomic_write_bytes

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RETRIEVAL_K = 10
MODES = ("open", "gold")


class AssistantLike(Protocol):
    """The part of ``rag.Assistant`` the evaluation uses."""

    def ask(self, question: str, top_k: int | None = None, doc_ids: list[str] | None = None,
            threshold: float | None = None, history: Sequence[Any] = ()) -> Any: ...

    def retrieve(self, question: str, k: int = 10, doc_ids: list[str] | None = None) -> list[Any]: ...


def cache_root() -> Path:
    """Where SQuAD corpora and indexes are cached: ``$RAG_EVAL_CACHE`` or ``./.cache/eval``."""
    return Path(os.environ.get("RAG_EVAL_CACHE") or Path.cwd() / ".cache" / "eval")


def default_corpus() -> Path:
    """``seeds/`` in the working folder, else the repository's."""
    return Path("seeds") if Path("seeds").is_dir() else ROOT / "seeds"


def resolve_paths(ds: Dataset, corpus: Path | None, index_dir: Path | None) -> tuple[Path, Path]:
    """(corpus folder, index folder) for a dataset; a SQuAD corpus is written out on the way."""
    if ds.kind == "squad":
        key = ds.sha256
        corpus = corpus or cache_root() / key / "corpus"
        write_corpus(ds.documents, corpus)
    else:
        corpus = corpus or default_corpus()
        key = "corpus-" + hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:16]
    if not corpus.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {corpus}")
    return corpus, index_dir or cache_root() / key / "index"


def default_out(ds: Dataset, mode: str, limit: int | None, seed: int) -> Path:
    """``eval/reports/<dataset>-<mode>[-n<limit>-s<seed>].json`` under the working folder."""
    tag = f"-n{limit}-s{seed}" if limit is not None else ""
    return Path("eval") / "reports" / f"{ds.name}-{mode}{tag}.json"


def select_articles(ds: Dataset, articles: Sequence[str] | None) -> list[Question]:
    """The questions about ``articles``: SQuAD article titles (``_`` or space), or JSONL document ids."""
    if not articles:
        return list(ds.questions)
    wanted = {a.replace("_", " ") for a in articles}
    docs = {d["id"] for d in ds.documents if d["title"] in wanted} | {a for a in articles}
    picked = [q for q in ds.questions if q.doc_id in docs]
    if not picked:
        raise ValueError(f"no question about {', '.join(articles)} in {ds.path}")
    return picked


def evaluate_question(qa: AssistantLike, q: Question, mode: str, top_k: int | None,
                      threshold: float | None = None, use_history: bool = True) -> dict[str, Any]:
    """Ask one question and score it: the per-question record of the report.

    A dialogue's earlier questions (``q.history``) are asked first, each with the answers before it, and
    the last is asked with them all (``use_history=False``: the last question alone)."""
    rec: dict[str, Any] = {"id": q.id, "question": q.question, "prediction": None, "answers": list(q.answers),
                           "em": 0, "f1": 0.0, "retrieved_doc_ids": [], "score": 0.0, "confidence": None,
                           "candidates": [], "status": None, "doc_id": q.doc_id,
                           "answerable": q.answerable, "answerer": None, "latency_ms": None,
                           "citation_doc_id": None, "citation_quote": None, "citation_ok": None,
                           "quote_hit": False if q.answerable else None}
    try:
        retrieved = dedupe(p.doc_id for p in qa.retrieve(q.question, k=RETRIEVAL_K))
        restrict = [q.doc_id] if mode == "gold" and q.doc_id is not None else None
        history: list[Any] = []
        if use_history and q.history:
            for earlier in q.history:
                history.append(qa.ask(earlier, top_k=top_k, doc_ids=restrict, threshold=threshold,
                                      history=list(history)))
            rec["history"] = [{"question": h.question, "resolved": getattr(h, "resolved_question", None),
                               "prediction": h.text} for h in history]
        t0 = time.perf_counter()
        ans = qa.ask(q.question, top_k=top_k, doc_ids=restrict, threshold=threshold, history=history)
        rec["latency_ms"] = (time.perf_counter() - t0) * 1000.0
        rec["resolved_question"] = getattr(ans, "resolved_question", None)
    except Exception as e:  # one failing question must not sink a long run; it is reported
        log.exception("question %s failed", q.id)
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["em"], rec["f1"] = score_prediction(None, q.answers)
        return rec
    prediction = ans.text if ans.text else None
    em, f1 = score_prediction(prediction, q.answers)
    top = ans.citations[0] if ans.citations else None
    rec.update(prediction=prediction, em=em, f1=f1, retrieved_doc_ids=retrieved, score=float(ans.score),
               confidence=getattr(ans, "confidence", None),
               candidates=[c.text for c in getattr(ans, "candidates", [])],
               answerer=getattr(ans, "answerer", None), status=getattr(ans, "status", None))
    if top is not None:
        rec.update(citation_doc_id=top.doc_id, citation_quote=top.quote)
        if q.answerable:
            rec["quote_hit"] = any(a in top.quote for a in q.answers)
    if q.doc_id is not None:
        rec["gold_rank"] = gold_rank(retrieved, q.doc_id)
        passages = getattr(ans, "passages", None) or []  # best first: after ask's second stage, if one ran
        rec["read_doc_id"] = passages[0].doc_id if passages else None
        if q.answerable and prediction is not None:
            # the top citation is from the gold document and its quote holds a gold answer (not merely
            # the prediction, which the quote holds by construction)
            rec["citation_ok"] = bool(rec["quote_hit"]) and top is not None and top.doc_id == q.doc_id
    return rec


def build_assistant(corpus: Path, index_dir: Path, reader: str) -> AssistantLike:
    """Index ``corpus`` into ``index_dir`` (incrementally) and open it."""
    import rag

    assistant_cls: Any = rag.Assistant  # resolved lazily by rag.__getattr__
    qa: AssistantLike = assistant_cls.build(corpus, index_dir=index_dir, reader=reader)
    return qa


def write_json_atomic(data: dict[str, Any], path: Path) -> None:
    """Write JSON to ``path`` through a temporary file, so a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def _settings_top_k(assistant: AssistantLike) -> int | None:
    """The passages the assistant reads by default (its answering settings), when it says."""
    settings = getattr(assistant, "settings", None)
    return getattr(settings, "top_k", None)


def ask_all(assistant: AssistantLike, questions: Sequence[Question], mode: str, top_k: int | None,
            threshold: float | None, desc: str, progress: bool, use_history: bool = True) -> list[dict[str, Any]]:
    """Every question asked and scored, with a progress bar showing the running EM and F1."""
    records: list[dict[str, Any]] = []
    bar = tqdm(questions, desc=desc, unit="q", disable=not progress, dynamic_ncols=True)
    em_sum = f1_sum = 0.0
    for q in bar:
        rec = evaluate_question(assistant, q, mode, top_k, threshold, use_history)
        records.append(rec)
        em_sum, f1_sum = em_sum + rec["em"], f1_sum + rec["f1"]
        bar.set_postfix(EM=f"{100 * em_sum / len(records):.1f}", F1=f"{100 * f1_sum / len(records):.1f}",
                        refresh=False)
    bar.close()
    return records


def run(
    dataset: Path,
    corpus: Path | None = None,
    index_dir: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    mode: str = "open",
    out: Path | None = None,
    progress: bool = True,
    *,
    top_k: int | None = None,
    reader: str = "default",
    assistant: AssistantLike | None = None,
    write_report: bool = True,
    articles: Sequence[str] | None = None,
    threshold: float | None = None,
    use_history: bool = True,
) -> dict[str, Any]:
    """Evaluate ``dataset`` and return the report dict (also written to ``out`` and a Markdown beside it).

    ``assistant`` replaces the built one (tests); otherwise the corpus is indexed into ``index_dir``
    (default: a cache folder keyed by the corpus) and opened with ``reader``. ``articles`` keeps only the
    questions about those articles (SQuAD titles, or document ids of a JSONL set); the corpus stays whole.
    ``top_k`` and ``threshold`` override the answerer's (threshold 0: always answer with the best
    candidate). A dialogue set's last turns are asked after their history unless ``use_history`` is False.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    ds = load_dataset(dataset)
    questions = sample(select_articles(ds, articles), limit, seed)
    corpus_dir = index_path = None
    if assistant is None:
        corpus_dir, index_path = resolve_paths(ds, Path(corpus) if corpus else None,
                                               Path(index_dir) if index_dir else None)
        assistant = build_assistant(corpus_dir, index_path, reader)
    started = time.perf_counter()
    records = ask_all(assistant, questions, mode, top_k, threshold, f"eval {ds.name} ({mode})", progress,
                      use_history)
    errors = [r for r in records if "error" in r]
    out = (Path(out) if out else default_out(ds, mode, limit, seed)) if write_report else None
    report: dict[str, Any] = {
        **summarize(records),
        "meta": {
            "dataset": str(dataset), "kind": ds.kind, "version": ds.version, "sha256": ds.sha256,
            "questions_total": len(ds.questions), "articles": list(articles) if articles else None,
            "limit": limit, "seed": seed, "mode": mode,
            "top_k": top_k if top_k is not None else _settings_top_k(assistant), "retrieval_k": RETRIEVAL_K,
            "reader": reader, "threshold": threshold,
            "history": use_history if any(q.history for q in questions) else None,
            "corpus": str(corpus_dir) if corpus_dir else None,
            "index": str(index_path) if index_path else None,
            "out": str(out) if out else None,
            "answerers": dict(Counter(str(r["answerer"]) for r in records if r["answerer"] is not None)),
            "n_errors": len(errors), "seconds": round(time.perf_counter() - started, 2),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "predictions": records,
    }
    if errors:
        log.warning("%d of %d questions failed; see 'error' in the predictions", len(errors), len(records))
    if out is not None:
        write_json_atomic(report, out)
        from eval.report import write_markdown

        write_markdown(report, out)
    return report


def load_report(path: Path) -> dict[str, Any]:
    """A REPORT.json written by ``run``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a report")
    return data


def compare(old: Path, new: Path) -> str:
    """The metric deltas from report ``old`` to report ``new``, as text."""
    from eval.report import compare_reports

    return compare_reports(load_report(old), load_report(new))
