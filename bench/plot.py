"""Plot query latency and memory against corpus size from ``bench/results/scale.json``.

    python -m bench.plot                      # writes docs/benchmarks.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import RESULTS, ROOT


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=Path, default=RESULTS / "scale.json")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.png")
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(args.scale.read_text())
    sizes = data["sizes"]
    n = [s["n"] for s in sizes]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(n, [s["query_p50_ms"] for s in sizes], "o-", label="p50")
    ax1.plot(n, [s["query_p95_ms"] for s in sizes], "s--", label="p95")
    ax1.axhline(10, color="grey", lw=0.8, ls=":", label="target p50 (1M)")
    for s in sizes:
        kind = "exact" if s["index_type"] == "flat" else f"IVF{s['nlist']},SQ8 nprobe {s['nprobe_default']}"
        ax1.annotate(f"{kind}\nrecall@10 {s['recall@10']:.3f}", (s["n"], s["query_p50_ms"]),
                     textcoords="offset points", xytext=(4, 8), fontsize=7)
    ax1.set(xscale="log", xlabel="passages", ylabel="ms per query (vector search, k=10)",
            title="Query latency")
    ax1.legend(fontsize=8)
    ax2.plot(n, [s["rss_after_queries_mb"] for s in sizes], "o-", label="process RSS (store open, after queries)")
    ax2.plot(n, [s.get("vectors_rss_mb", float("nan")) for s in sizes], "s--", label="vector index alone")
    ax2.axhline(1536, color="grey", lw=0.8, ls=":", label="target 1.5 GB (1M)")
    ax2.set(xscale="log", xlabel="passages", ylabel="MB", title="Memory")
    ax2.legend(fontsize=8)
    machine = data["machine"]
    fig.suptitle(f"{machine['nproc']} cores ({machine['cpu']}), load average {machine['loadavg_at_start'][0]:.1f} "
                 f"at the start; {data['method']['queries']} real questions, one at a time", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
