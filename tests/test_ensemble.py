"""rag_train.ensemble: the averaged reader's logits are the mean of its members' (two tiny random BERTs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"

from rag.reader import SpanReader  # noqa: E402
from rag.schema import Passage  # noqa: E402
from rag_train.ensemble import averaged  # noqa: E402


def _tiny(path: Path, seed: int) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from rag_train.reader import base_model_path

    tok = AutoTokenizer.from_pretrained(base_model_path())
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertForQuestionAnswering(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    (path / "reader_config.json").write_text(json.dumps({"max_len": 64, "stride": 16}))
    return path


def test_ensemble_logits_are_the_members_mean(tmp_path: Path) -> None:
    a = SpanReader.load(_tiny(tmp_path / "a", 0), backend="torch")
    b = SpanReader.load(_tiny(tmp_path / "b", 1), backend="torch")
    both = averaged([a, b])
    text = "NATO will send 4,000 troops to Afghanistan next spring, its top commander said in Brussels."
    windows = a._encode("How many troops?", [text])
    (sa, ea), (sb, eb), (s, e) = a._forward(windows), b._forward(windows), both._forward(windows)
    assert not np.allclose(sa, sb)
    np.testing.assert_allclose(s, (sa + sb) / 2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(e, (ea + eb) / 2, rtol=1e-5, atol=1e-5)
    spans, _ = both.read("How many troops?", [Passage(chunk_id=0, doc_id="d", title="t", start=0, end=len(text),
                                                      text=text, score=1.0)])
    assert all(text[sp.start:sp.end] == sp.text for sp in spans)
