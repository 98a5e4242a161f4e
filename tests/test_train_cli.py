"""The training command line: its console scripts resolve, and ``--help`` shows the shipped reader's recipe."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from rag_train.cli import build_parser, recipe

ROOT = Path(__file__).resolve().parents[1]


def test_every_console_script_resolves() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert "rag-train-reader" in scripts
    for name, target in scripts.items():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), name


def test_recipe_is_the_model_cards_training_block(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text("# r\n\n## Data\n```\nnot this\n```\n\n## Training\nExact commands:\n\n```\n"
                    "python -m rag_train --out A --bf16\npython -m rag_train --out B --base-model A/final\n```\n\n"
                    "## Decision rule\n```\nnor this\n```\n", encoding="utf-8")
    text = recipe(card)
    assert "python -m rag_train --out A --bf16\npython -m rag_train --out B --base-model A/final\n" in text
    assert "not this" not in text and "nor this" not in text
    assert "missing" in recipe(tmp_path / "absent.md")


def test_help_shows_the_shipped_readers_commands() -> None:
    assert "python -m rag_train --out" in build_parser().format_help()
