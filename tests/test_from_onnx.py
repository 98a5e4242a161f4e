"""rag_train.from_onnx: an int8 reader graph back to trainable fp32 weights, within half a quantisation step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

torch = pytest.importorskip("torch")


def _tiny_reader(folder: Path) -> dict[str, np.ndarray]:
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64)
    model = BertForQuestionAnswering(cfg).eval()
    with torch.no_grad():  # distinct values everywhere, as after training (the exporter merges equal tensors)
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(folder)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items() if not k.endswith("position_ids")}


def test_dequantised_weights_are_the_trained_ones_within_a_step(tmp_path: Path) -> None:
    from rag_train.export import export_onnx_int8
    from rag_train.from_onnx import dequantised_state

    src = tmp_path / "reader"
    trained = _tiny_reader(src)
    export_onnx_int8(src, src / "model.int8.onnx")
    got = dequantised_state(src / "model.int8.onnx")
    assert set(got) == set(trained)  # every weight named as in BertForQuestionAnswering, none left over
    for name, w in trained.items():
        assert got[name].shape == w.shape, name
        if name.endswith(".weight") and w.ndim == 2:
            step = (w.max() - w.min()) / 255 if "embeddings" in name else np.abs(w).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(got[name] - w) <= step * 0.5 + 1e-6), name  # half a step, per channel
        else:
            assert np.array_equal(got[name], w), name  # biases and LayerNorm are stored in fp32


def test_write_checkpoint_loads_and_scores_like_the_graph(tmp_path: Path) -> None:
    import onnxruntime as ort
    from transformers import AutoModelForQuestionAnswering

    from rag_train.export import export_onnx_int8
    from rag_train.from_onnx import main

    src = tmp_path / "reader"
    _tiny_reader(src)
    export_onnx_int8(src, src / "model.int8.onnx")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (src / name).write_text("{}")
    (src / "eval_report.json").write_text(json.dumps({"train_meta": {"holdout_titles": ["T1"], "steps": 5}}))
    assert main([str(src), "--out", str(tmp_path / "run")]) == 0
    meta = json.loads((tmp_path / "run" / "train_meta.json").read_text())
    assert meta["holdout_titles"] == ["T1"] and meta["from_onnx"]["source"] == str(src)
    assert meta["from_onnx"]["word_embeddings"] == "dequantised"  # not the packaged base's shape
    model = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "run" / "final").eval()
    ids = torch.randint(1, 64, (2, 24))
    feeds = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.no_grad():
        start = model(**feeds).start_logits.numpy()
    sess = ort.InferenceSession(str(src / "model.int8.onnx"), providers=["CPUExecutionProvider"])
    onnx_start = sess.run(["start_logits"], {k: v.numpy() for k, v in feeds.items()})[0]
    assert np.abs(start - onnx_start).max() < 0.1  # only the graph's int8 activations differ
    # a soup of such members: the card's commands say how each member was dequantised
    from rag_train.export import _soup_commands

    final = str(tmp_path / "run" / "final")
    cmds = _soup_commands({"soup": {"members": [final, final], "command": "python -m rag_train.soup ..."}})
    assert sum(f"python -m rag_train.from_onnx {src} --out {tmp_path / 'run'}" in c for c in cmds.splitlines()) == 1


def test_a_folder_without_a_graph_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rag_train.from_onnx import main

    assert main([str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "model.int8.onnx" in err and "\n" not in err
