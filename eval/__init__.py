"""Evaluation suite: question sets, SQuAD-official metrics, runner and reports over the public API.

    from eval import run, compare
    report = run(Path("eval/seeds.jsonl"), out=Path("eval/reports/seeds.json"))
    print(compare(Path("old.json"), Path("new.json")))
"""

from eval.runner import compare, run

__all__ = ["compare", "run"]
