"""Benchmarks (issue 6): one command each, medians over repeated runs, JSON in ``bench/results/``.

Run from the project root, e.g. ``python -m bench.bench_latency``; see docs/benchmarks.md.
"""
