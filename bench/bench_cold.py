"""Cold start: a new process answering one question from an existing index.

    python -m bench.bench_cold                         # dev-a index, 5 runs each
    python -m bench.bench_cold --corpus seeds --repeat 2 --no-serve

1. ``rag ask QUESTION --index DIR``: wall time of the whole command (interpreter start, imports,
   opening the index, the first question), a different question each run; plus one run under
   ``python -X importtime`` to list the slowest imports and check that neither torch nor
   sentence-transformers is imported.
2. ``rag serve --index DIR --port P``: time from starting the server until its ``/ask`` API (Gradio)
   returns the first answer, polled with gradio_client from this process (loopback only).

Medians over ``--repeat`` runs; JSON to ``bench/results/cold.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_latency import questions_for
from bench.common import ensure_index, median, write_result

HEAVY = ("torch", "sentence_transformers", "transformers", "gradio", "scipy", "sklearn")


def rag_cmd() -> list[str]:
    exe = shutil.which("rag")
    return [exe] if exe else [sys.executable, "-m", "rag.cli"]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def cold_ask(index: Path, questions: list[str], repeat: int, reader: str) -> dict[str, Any]:
    runs = []
    for i in range(repeat):
        q = questions[i % len(questions)]
        t = time.perf_counter()
        proc = subprocess.run([*rag_cmd(), "ask", q, "--index", str(index), "--reader", reader],
                              capture_output=True, text=True, env=env(), check=False)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"rag ask failed: {proc.stderr[-2000:]}")
        runs.append({"question": q, "seconds": round(wall, 3), "output": proc.stdout.splitlines()[0][:200]})
        print(f"  rag ask #{i + 1}: {wall:.2f} s  {proc.stdout.splitlines()[0][:80]!r}", flush=True)
    # Where the time goes: -X importtime of one more run (not counted in the median).
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag.cli", "ask", questions[0], "--index",
                           str(index), "--reader", reader], capture_output=True, text=True, env=env(), check=False)
    imports: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (p.strip() for p in line.split(":", 1)[1].split("|"))
            if cumulative.isdigit() and not name.startswith(" "):
                imports.append((int(cumulative), name))
    top = [{"module": n, "ms": round(us / 1000, 1)} for us, n in sorted(imports, reverse=True)
           if not n.startswith(" ")]
    top_level = [t for t in top if "." not in t["module"]][:12]
    loaded = {n.strip() for _, n in imports}
    return {
        "reader": reader,
        "median_s": round(median([r["seconds"] for r in runs]), 3),
        "min_s": round(min(r["seconds"] for r in runs), 3),
        "max_s": round(max(r["seconds"] for r in runs), 3),
        "runs": runs,
        "slowest_imports": top_level,
        "heavy_modules_imported": sorted(m for m in HEAVY if m in loaded),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cold_serve(index: Path, question: str, repeat: int, timeout: float) -> dict[str, Any]:
    from gradio_client import Client  # imported before the clock starts

    runs = []
    for i in range(repeat):
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        t = time.perf_counter()
        proc = subprocess.Popen([*rag_cmd(), "serve", "--index", str(index), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())
        answered = None
        t_up = None
        try:
            while time.perf_counter() - t < timeout and proc.poll() is None:
                try:
                    client = Client(url, verbose=False)
                except Exception:
                    time.sleep(0.1)
                    continue
                t_up = time.perf_counter() - t
                answered = client.predict(question, 3, api_name="/ask")
                break
            wall = time.perf_counter() - t
        finally:
            proc.terminate()
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
        if answered is None:
            raise RuntimeError(f"rag serve did not answer within {timeout} s: {(err or '')[-2000:]}")
        runs.append({"seconds": round(wall, 3), "up_s": round(t_up or 0, 3)})
        print(f"  rag serve #{i + 1}: up after {t_up:.2f} s, first answer after {wall:.2f} s", flush=True)
    return {
        "median_s": round(median([r["seconds"] for r in runs]), 3),
        "median_up_s": round(median([r["up_s"] for r in runs]), 3),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="dev-a", choices=["seeds", "dev-a"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reader", nargs="+", default=["default", "sentence"])
    ap.add_argument("--no-serve", action="store_true")
    ap.add_argument("--serve-repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--name", default="cold")
    args = ap.parse_args(argv)
    folder, index, questions = questions_for(args.corpus, 50)
    ensure_index(folder, index)
    res: dict[str, Any] = {"corpus": args.corpus, "index": str(index), "ask": []}
    for reader in args.reader:
        print(f"rag ask (reader {reader}):", flush=True)
        res["ask"].append(cold_ask(index, questions, args.repeat, reader))
        print(f"  median {res['ask'][-1]['median_s']:.2f} s; heavy modules imported: "
              f"{res['ask'][-1]['heavy_modules_imported'] or 'none'}", flush=True)
    if not args.no_serve:
        print("rag serve:", flush=True)
        res["serve"] = cold_serve(index, questions[0], args.serve_repeat, args.timeout)
        print(f"  median {res['serve']['median_s']:.2f} s to the first answer", flush=True)
    write_result(args.name, {"command": "python -m bench.bench_cold " + " ".join(
        sys.argv[1:] if argv is None else argv), **res}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
