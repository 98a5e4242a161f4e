"""PDF text: pypdf against pdfplumber on PDFs printed from real web pages, single- and two-column.

    python -m bench.bench_pdf            # 8 articles of html-eval-a, each printed both ways

Each article's main text (``rag.webpage``) is laid out as a plain HTML page, once in one column and once
in two (CSS ``column-count: 2``), and printed to PDF by Debian's chromium (``--print-to-pdf``). Each
library's text is scored against the article's sentences: the share of sentences found whole (white
space normalised, a hyphenated line break joined), which falls when a two-column page is read across
the columns; and the median milliseconds per PDF. JSON to ``bench/results/pdf.json``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.bench_html import pages_dir
from bench.common import cache_dir, median, write_result

CHROMIUM = Path("/usr/bin/chromium")
LAYOUTS = {"one column": "", "two columns": "column-count: 2; column-gap: 2em;"}


def articles(n: int) -> list[tuple[str, str]]:
    """(name, main text) of the first ``n`` English pages with at least 1,500 characters of main text."""
    from rag.webpage import decode_html, extract_page

    folder = pages_dir()
    truth = json.loads((folder / "evaldata.json").read_text(encoding="utf-8"))
    out = []
    for v in sorted(truth.values(), key=lambda v: v["file"]):
        page = extract_page(decode_html((folder / "pages" / v["file"]).read_bytes()))
        if page is not None and page.language == "en" and len(page.text) >= 1500:
            out.append((Path(v["file"]).stem, page.text[:6000]))
        if len(out) == n:
            break
    return out


def print_pdf(name: str, text: str, style: str, folder: Path) -> Path:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    page = folder / f"{name}.html"
    page.write_text(f"<html><head><meta charset='utf-8'><style>body {{ font: 11pt serif; {style} }}</style>"
                    f"</head><body>{paragraphs}</body></html>", encoding="utf-8")
    pdf = folder / f"{name}.pdf"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", page.as_uri()], check=True, capture_output=True, timeout=120)
    return pdf


def pypdf_text(pdf: Path) -> str:
    from rag.office import pdf_text

    return pdf_text(pdf)[0]


def pdfplumber_text(pdf: Path) -> str:
    import pdfplumber

    with pdfplumber.open(pdf) as doc:
        return "\n\n".join((p.extract_text() or "") for p in doc.pages)


def sentence_recall(source: str, extracted: str) -> float:
    flat = " ".join(re.sub(r"-\n(?=[a-z])", "", extracted).split())
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(source.split())) if len(s) > 30]
    return sum(s in flat for s in sentences) / max(1, len(sentences))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=8)
    args = ap.parse_args(argv)
    folder = cache_dir() / "pdf"
    folder.mkdir(parents=True, exist_ok=True)
    docs = articles(args.articles)
    result: dict[str, Any] = {"articles": [n for n, _ in docs], "layouts": {}}
    for layout, style in LAYOUTS.items():
        pdfs = [(print_pdf(f"{n}-{len(style)}", text, style, folder), text) for n, text in docs]
        rows = {}
        for lib, fn in (("pypdf", pypdf_text), ("pdfplumber", pdfplumber_text)):
            scores, times = [], []
            for pdf, text in pdfs:
                t = time.perf_counter()
                out = fn(pdf)
                times.append(time.perf_counter() - t)
                scores.append(sentence_recall(text, out))
            rows[lib] = {"sentence_recall": round(sum(scores) / len(scores), 4),
                         "worst": round(min(scores), 4), "ms_per_pdf_p50": round(1000 * median(times), 1)}
        result["layouts"][layout] = rows
        print(layout, json.dumps(rows), flush=True)
    write_result("pdf", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
