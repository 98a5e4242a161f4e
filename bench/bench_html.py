"""Main-text extraction from saved web pages: this project's HTML path against its peers, one run.

    python -m bench.bench_html                 # the 495 pages of ../shared/data/html-eval-a.tar.gz
    python -m bench.bench_html --limit 60      # the first 60 (sorted by file name)

The pages carry snippets of their main text ("with") and of boilerplate ("without"), scored as
trafilatura's authors score them: white space normalised, substring matching; precision = "with" found
/ ("with" found + "without" found), recall = "with" found / all "with", over all pages. Methods:

- ``rag``: what indexing stores (``rag.ingest.read_file``: ``rag.webpage`` decoding, trafilatura
  without comments, the page's metadata);
- ``trafilatura``: ``trafilatura.extract`` with its defaults, given the file's bytes;
- ``readability``: readability-lxml's ``Document(html).summary()``, as text (``pip install
  readability-lxml`` on its own: pip's resolver fails when it and trafilatura are resolved together,
  "Candidate is not for this requirement lxml[html-clean,html-clean]"; skipped when absent);
- ``bs4 (before)``: the path this project had before (BeautifulSoup ``get_text`` of the page less
  scripts, styles and hidden parts; a page that is not UTF-8 was skipped).

Also: publication date (exact ``YYYY-MM-DD``) and title (equal once white space and case are
normalised) against the annotations, where the page has one, and the median time per page. JSON to
``bench/results/html.json``.

The pages fall into two halves by the SHA-1 of their file name (first hex digit below 8: ``tune``, else
``test``); every rule of ``rag.webpage`` about titles and dates was chosen on the tuning half, and each
method's scores are also given per half (``by_half``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import SHARED_DATA, cache_dir, median, write_result

ARCHIVE = SHARED_DATA / "html-eval-a.tar.gz"


def pages_dir() -> Path:
    """The archive unpacked once under ``.cache/bench`` (never into the repository)."""
    out = cache_dir() / "html-eval-a"
    if not (out / "evaldata.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(ARCHIVE) as tar:
            tar.extractall(out, filter="data")
    return out


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def bs4_before(raw: bytes) -> tuple[str, dict[str, str | None]]:
    """The HTML path of rag/ingest.py before this benchmark (kept here only to measure it)."""
    from bs4 import BeautifulSoup

    try:
        html = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", {}
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(["script", "style", "noscript", "template", "head", "svg", "iframe", "object"]):
        tag.decompose()
    for tag in soup.select('[hidden], [aria-hidden="true"]'):
        tag.decompose()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in soup.get_text("\n").split("\n")]
    return "\n".join(line for line in lines if line), {"title": title}


def trafilatura_defaults(raw: bytes) -> tuple[str, dict[str, str | None]]:
    import trafilatura

    return trafilatura.extract(raw) or "", {}


def readability_text(raw: bytes) -> tuple[str, dict[str, str | None]]:
    import lxml.html
    from readability import Document

    try:
        doc = Document(raw)
        summary = doc.summary(html_partial=True)
        return lxml.html.fromstring(summary).text_content(), {"title": doc.short_title()}
    except Exception:  # readability raises on pages it cannot parse: no text, as a user would get
        return "", {}


def rag_path(path: Path) -> tuple[str, dict[str, str | None]]:
    from rag.ingest import read_file

    docs, _ = read_file(path, path.parent)
    if not docs:
        return "", {}
    d = docs[0]
    return d.text, {"title": d.title, "date": d.date, "author": d.author, "source": d.source}


def score(results: dict[str, tuple[str, dict[str, str | None]]], truth: dict[str, Any]) -> dict[str, Any]:
    tp = fn = fp = tn = 0
    dates = titles = dated = titled = 0
    for key, gold in truth.items():
        text, meta = results[key]
        body = norm(text)
        for snippet in gold.get("with", []):
            found = norm(snippet) in body
            tp, fn = tp + found, fn + (not found)
        for snippet in gold.get("without", []):
            found = norm(snippet) in body
            fp, tn = fp + found, tn + (not found)
        if gold.get("date"):
            dated += 1
            dates += (meta.get("date") or "")[:10] == gold["date"][:10]
        if gold.get("title"):
            titled += 1
            titles += norm(meta.get("title")).casefold() == norm(gold["title"]).casefold()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "accuracy": round((tp + tn) / max(1, tp + tn + fp + fn), 4),
            "empty_pages": sum(1 for k in truth if not results[k][0].strip()),
            "date_correct": round(dates / dated, 4) if dated else None, "dated_pages": dated,
            "title_correct": round(titles / titled, 4) if titled else None, "titled_pages": titled}


def half_of(file: str) -> str:
    """``tune`` or ``test``: the half of the pages ``file`` belongs to (see the module docstring)."""
    return "tune" if int(hashlib.sha1(file.encode("utf-8")).hexdigest()[0], 16) < 8 else "test"


def run(limit: int | None = None, only: list[str] | None = None) -> dict[str, Any]:
    folder = pages_dir()
    truth_all: dict[str, Any] = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    truth = {v["file"]: v for v in sorted(truth_all.values(), key=lambda v: v["file"])[:limit]}
    methods: dict[str, Callable[[Path], tuple[str, dict[str, str | None]]]] = {
        "rag": rag_path,
        "trafilatura": lambda p: trafilatura_defaults(p.read_bytes()),
        "readability": lambda p: readability_text(p.read_bytes()),
        "bs4 (before)": lambda p: bs4_before(p.read_bytes()),
    }
    out: dict[str, Any] = {"pages": len(truth), "methods": {}}
    for name, fn in methods.items():
        if only and name not in only:
            continue
        if name == "readability" and importlib.util.find_spec("readability") is None:
            print("readability-lxml is not installed: skipped", flush=True)
            continue
        results, times = {}, []
        for file in truth:
            t = time.perf_counter()
            results[file] = fn(folder / "pages" / file)
            times.append(time.perf_counter() - t)
        by_half = {h: score(results, {k: v for k, v in truth.items() if half_of(k) == h}) for h in ("tune", "test")}
        out["methods"][name] = {**score(results, truth), "ms_per_page_p50": round(1000 * median(times), 1),
                                "by_half": by_half}
        print(name, json.dumps(out["methods"][name]), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    ap.add_argument("--name", default=None, help="result name (default: html[-LIMIT])")
    args = ap.parse_args(argv)
    result = run(args.limit, args.methods)
    write_result(args.name or ("html" if args.limit is None else f"html-{args.limit}"), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
