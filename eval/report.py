"""The human-readable side of a report: Markdown summary, worst failures, plots, and comparisons."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from eval.metrics import summarize

# Summary figures in display order, with how to print them.
SUMMARY_KEYS: list[tuple[str, str]] = [
    ("n", "questions"),
    ("exact_match", "EM"),
    ("f1", "F1"),
    ("has_answer_exact_match", "has-answer EM"),
    ("has_answer_f1", "has-answer F1"),
    ("no_answer_accuracy", "no-answer accuracy"),
    ("abstention_rate", "abstention rate"),
    ("abstention_precision", "abstention precision"),
    ("abstention_recall", "abstention recall"),
    ("recall@1", "retrieval recall@1"),
    ("recall@5", "retrieval recall@5"),
    ("recall@10", "retrieval recall@10"),
    ("mrr", "retrieval MRR"),
    ("read@1", "first passage read from gold"),
    ("citation_accuracy", "citation accuracy"),
    ("quote_hit", "answer in top quote"),
    ("unsure_rate", "'not sure' rate"),
    ("unsure_right_em", "right candidate shown (EM)"),
    ("unsure_right_f1", "right candidate shown (F1>=.5)"),
    ("confidence_mean", "mean confidence shown"),
    ("confidence_ece", "confidence calibration error"),
    ("latency_ms_p50", "latency p50 (ms)"),
    ("latency_ms_p95", "latency p95 (ms)"),
]
MAX_FAILURES = 15


def fmt(value: Any, key: str = "") -> str:
    """A figure for a table: integers as is, MRR to 3 places, the rest to 1; None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}" if key == "mrr" else f"{value:.1f}"
    return str(value)


def _cell(text: Any, width: int = 90) -> str:
    s = "–" if text is None else " ".join(str(text).split()).replace("|", "\\|")
    return s if len(s) <= width else s[: width - 1] + "…"


def failure_kind(r: dict[str, Any]) -> str | None:
    """"wrong answer", "missed answer" (abstained), "false answer" (answered the unanswerable), or None."""
    if r["em"]:
        return None
    if not r["answerable"]:
        return "false answer"
    return "missed answer" if r["prediction"] is None else "wrong answer"


def worst_failures(records: list[dict[str, Any]], n: int = MAX_FAILURES) -> list[dict[str, Any]]:
    """The failures that hurt most: lowest F1 first, then the most confident."""
    failed = [r for r in records if failure_kind(r)]
    return sorted(failed, key=lambda r: (r["f1"], -float(r["score"] or 0.0)))[:n]


def kind_of_question(qid: str) -> str | None:
    """The question type in ids shaped ``<doc>-<kind>-<n>`` (the seed set), else None."""
    parts = qid.split("-")
    return parts[1] if len(parts) == 3 and parts[2].isdigit() else None


def plot_calibration(records: list[dict[str, Any]], path: Path, bins: int = 10) -> None:
    """Reliability diagram of answered questions: the confidence shown to people (``Answer.confidence``,
    when the answerer is calibrated; else the ranking score) against the fraction exactly right, and
    histograms of it by outcome."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibrated = any(r.get("confidence") is not None for r in records)
    key = "confidence" if calibrated else "score"
    label = "confidence shown (calibrated)" if calibrated else "ranking score (not calibrated)"

    def value(r: dict[str, Any]) -> float:
        return float(r.get(key) or 0.0)

    answered = [r for r in records if r["prediction"] is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    edges = [i / bins for i in range(bins + 1)]
    xs, ys, ns = [], [], []
    for lo, hi in zip(edges, edges[1:], strict=False):
        inside = [r for r in answered if lo <= value(r) < hi or (hi == 1.0 and value(r) == 1.0)]
        if inside:
            xs.append(sum(value(r) for r in inside) / len(inside))
            ys.append(sum(r["em"] for r in inside) / len(inside))
            ns.append(len(inside))
    ax1.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    ax1.plot(xs, ys, marker="o", label="answered questions")
    for x, y, n in zip(xs, ys, ns, strict=True):
        ax1.annotate(str(n), (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax1.set(xlim=(0, 1), ylim=(0, 1.05), xlabel=label, ylabel="fraction exactly right (EM)",
            title="Reliability (n per bin)")
    ax1.legend(loc="upper left", fontsize=8)
    right = [value(r) for r in answered if r["em"]]
    wrong = [value(r) for r in answered if not r["em"]]
    abstained = [float(r["score"] or 0.0) for r in records if r["prediction"] is None and "error" not in r]
    ax2.hist([right, wrong, abstained], bins=edges, stacked=True,
             label=[f"answered, right ({len(right)})", f"answered, wrong ({len(wrong)})",
                    f"abstained: score ({len(abstained)})"],
             color=["tab:green", "tab:red", "tab:grey"])
    ax2.set(xlabel=key, ylabel="questions", title=f"{key.capitalize()} by outcome")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_latency(records: list[dict[str, Any]], path: Path, p50: float | None, p95: float | None) -> None:
    """Histogram of per-question ``ask`` latency with the p50 and p95 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = [r["latency_ms"] for r in records if r.get("latency_ms") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(lat, bins=30, color="tab:blue")
    for value, label, style in ((p50, "p50", "--"), (p95, "p95", ":")):
        if value is not None:
            ax.axvline(value, color="black", linestyle=style, label=f"{label} {value:.0f} ms")
    ax.set(xlabel="latency of ask (ms)", ylabel="questions", title=f"Latency (n={len(lat)})")
    if lat:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_table(report: dict[str, Any]) -> list[str]:
    """Markdown rows: metric | value."""
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {label} | {fmt(report.get(key), key)} |" for key, label in SUMMARY_KEYS]
    return rows


def breakdown_table(records: list[dict[str, Any]]) -> list[str]:
    """EM/F1 per question type when the ids carry one (the seed set); else nothing."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        kind = kind_of_question(r["id"])
        if kind is None:
            return []
        groups[kind].append(r)
    rows = ["| type | n | EM | F1 | recall@5 |", "|---|---|---|---|---|"]
    for kind in sorted(groups):
        s = summarize(groups[kind])
        rows.append(f"| {kind} | {s['n']} | {fmt(s['exact_match'])} | {fmt(s['f1'])} | {fmt(s['recall@5'])} |")
    return rows


def render_markdown(report: dict[str, Any], calibration_png: str, latency_png: str) -> str:
    """The Markdown report for a report dict (plots referenced by relative file name)."""
    meta = report.get("meta", {})
    records = report.get("predictions", [])
    lines = [f"# Evaluation: {Path(str(meta.get('dataset', '?'))).name} ({meta.get('mode', '?')} mode)", ""]
    lines.append(
        f"{report['n']} of {meta.get('questions_total', '?')} questions (limit {meta.get('limit')}, "
        f"seed {meta.get('seed')}), top_k {meta.get('top_k')}, reader `{meta.get('reader')}`, "
        f"answerers {meta.get('answerers')}, {meta.get('n_errors', 0)} errors, "
        f"{fmt(meta.get('seconds'))} s, {meta.get('created')}."
    )
    lines += ["", "Percentages except MRR; retrieval over the whole corpus (top 10, gold document rank);",
              "citation accuracy over answered answerable questions.", ""]
    lines += summary_table(report)
    by_kind = breakdown_table(records)
    if by_kind:
        lines += ["", "## By question type", ""] + by_kind
    failures = worst_failures(records)
    counts = Counter(k for k in map(failure_kind, records) if k)
    lines += ["", "## Worst failures", "",
              "Failures: " + (", ".join(f"{v} {k}s" for k, v in sorted(counts.items())) or "none") + ".", ""]
    if failures:
        lines += ["| id | kind | question | prediction | gold | F1 | score | gold rank |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in failures:
            gold = r["answers"][0] if r["answers"] else "(no answer)"
            lines.append(
                f"| {_cell(r['id'], 30)} | {failure_kind(r)} | {_cell(r['question'])} | "
                f"{_cell(r['prediction'] if r['prediction'] is not None else '(abstained)', 60)} | "
                f"{_cell(gold, 60)} | {r['f1']:.2f} | {float(r['score'] or 0):.2f} | {fmt(r.get('gold_rank'))} |"
            )
    errors = [r for r in records if "error" in r]
    if errors:
        lines += ["", "## Errors", ""] + [f"- `{r['id']}`: {_cell(r['error'], 200)}" for r in errors[:20]]
    lines += ["", "## Calibration", "", f"![calibration]({calibration_png})", "",
              "## Latency", "", f"![latency]({latency_png})", ""]
    return "\n".join(lines)


def write_markdown(report: dict[str, Any], json_path: Path) -> Path:
    """Write ``<stem>.md`` and its two PNG plots beside the report JSON; returns the Markdown path."""
    json_path = Path(json_path)
    records = report.get("predictions", [])
    cal = json_path.with_name(json_path.stem + "-calibration.png")
    lat = json_path.with_name(json_path.stem + "-latency.png")
    plot_calibration(records, cal)
    plot_latency(records, lat, report.get("latency_ms_p50"), report.get("latency_ms_p95"))
    md = json_path.with_suffix(".md")
    md.write_text(render_markdown(report, cal.name, lat.name), encoding="utf-8")
    return md


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A text table of every summary figure, old -> new and the delta, and which questions flipped."""
    lines = []
    om, nm = old.get("meta", {}), new.get("meta", {})
    for key in ("dataset", "mode", "limit", "seed", "sha256"):
        if om.get(key) != nm.get(key):
            lines.append(f"warning: {key} differs ({om.get(key)} vs {nm.get(key)}); figures may not be comparable")
    lines.append(f"{'metric':<22}{'old':>10}{'new':>10}{'delta':>10}")
    for key, _label in SUMMARY_KEYS:
        a, b = old.get(key), new.get(key)
        if a is None and b is None:
            continue
        delta = fmt(b - a, key) if isinstance(a, int | float) and isinstance(b, int | float) else "–"
        if delta not in {"–"} and not delta.startswith("-"):
            delta = "+" + delta
        lines.append(f"{key:<22}{fmt(a, key):>10}{fmt(b, key):>10}{delta:>10}")
    before = {r["id"]: r for r in old.get("predictions", [])}
    after = {r["id"]: r for r in new.get("predictions", [])}
    shared = sorted(before.keys() & after.keys())
    if shared:
        fixed = [i for i in shared if not before[i]["em"] and after[i]["em"]]
        broken = [i for i in shared if before[i]["em"] and not after[i]["em"]]
        lines.append(f"\n{len(shared)} shared questions: {len(fixed)} now exactly right, {len(broken)} no longer")
        for label, ids in (("fixed", fixed), ("broken", broken)):
            if ids:
                more = f" (+{len(ids) - 10} more)" if len(ids) > 10 else ""
                lines.append(f"{label}: {', '.join(ids[:10])}{more}")
    return "\n".join(lines)
