"""Main-text extraction on real saved web pages (the first 80 of ../shared/data/html-eval-a.tar.gz), with
floors a little under the figures measured on them (bench/bench_html.py; docs/benchmarks.md, f)."""

from __future__ import annotations

import pytest

from bench.bench_html import ARCHIVE, run

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not ARCHIVE.is_file(), reason="../shared/data/html-eval-a.tar.gz is absent")]

PAGES = 80


def test_main_text_of_real_pages_matches_trafilatura_and_keeps_metadata() -> None:
    result = run(PAGES, ["rag", "trafilatura"])["methods"]
    ours, peer = result["rag"], result["trafilatura"]
    # measured on these 80 pages: F1 0.903 (precision 0.870, recall 0.938), trafilatura's defaults 0.906
    assert ours["f1"] >= 0.88 and ours["precision"] >= 0.85 and ours["recall"] >= 0.91, ours
    assert ours["f1"] >= peer["f1"] - 0.02, (ours, peer)
    assert ours["empty_pages"] <= 1
    # measured: dates 84.5% of 58, titles 73.1% of 67 (issue 15 asks for 90%: not reached yet)
    assert ours["date_correct"] >= 0.80 and ours["title_correct"] >= 0.68, ours
