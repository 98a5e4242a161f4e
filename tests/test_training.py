"""Reader training: data handling, features, metrics and a few-step smoke run (so the code cannot rot)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from rag.schema import Passage  # noqa: E402
from rag_train.cli import main  # noqa: E402
from rag_train.export import choose_threshold, score_one, summarize  # noqa: E402
from rag_train.reader import (  # noqa: E402
    DEFAULT_TRAIN_FILES,
    QAExample,
    TrainConfig,
    build_train_features,
    choose_holdout_titles,
    dedupe,
    load_splits,
    load_squad,
    resolve_data_path,
    train,
)

HAVE_DATA = all(resolve_data_path(f).exists() for f in DEFAULT_TRAIN_FILES)
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="../shared/data SQuAD files are absent")

CTX_A = "The Eiffel Tower is in Paris. It was completed in 1889 and is 330 metres tall."
CTX_B = "Canada sent 4,000 troops, said Gen. John Craddock on Monday in Brussels."


def squad_file(path: Path, v2: bool) -> Path:
    def qa(qid: str, q: str, ans: str | None, ctx: str) -> dict[str, object]:
        d: dict[str, object] = {
            "id": qid,
            "question": q,
            "answers": [] if ans is None else [{"text": ans, "answer_start": ctx.index(ans)}],
        }
        if v2:
            d["is_impossible"] = ans is None
        return d

    arts = [
        {
            "title": "Tower",
            "paragraphs": [
                {
                    "context": CTX_A,
                    "qas": [
                        qa(f"{path.stem}1", "Where is the Eiffel Tower?", "Paris", CTX_A),
                        qa(f"{path.stem}2", "When was it completed?", "1889", CTX_A),
                    ]
                    + ([qa(f"{path.stem}3", "Who painted the tower?", None, CTX_A)] if v2 else []),
                }
            ],
        },
        {
            "title": "Troops",
            "paragraphs": [
                {
                    "context": CTX_B,
                    "qas": [
                        qa(f"{path.stem}4", "How many troops?", "4,000 troops", CTX_B),
                        qa(f"{path.stem}5", "Who said it?", "Gen. John Craddock", CTX_B),
                    ]
                    + ([qa(f"{path.stem}6", "Why did Poland refuse?", None, CTX_B)] if v2 else []),
                }
            ],
        },
        {
            "title": "OnlyV1" if not v2 else "OnlyV2",
            "paragraphs": [
                {"context": CTX_B, "qas": [qa(f"{path.stem}7", "Which country sent troops?", "Canada", CTX_B)]}
            ],
        },
    ]
    path.write_text(json.dumps({"version": "x", "data": arts}))
    return path


@pytest.fixture()
def files(tmp_path: Path) -> list[str]:
    return [str(squad_file(tmp_path / "v1.json", False)), str(squad_file(tmp_path / "v2.json", True))]


def test_dedupe_and_holdout(files: list[str]) -> None:
    sets = [load_squad(f) for f in files]
    merged = dedupe([e for s in sets for e in s])
    # 4 answerable questions are shared by both files (only the ids differ); OnlyV1/OnlyV2 are distinct.
    assert len(merged) == len(sets[0]) + len(sets[1]) - 4
    keys = [(e.title, e.question, e.context) for e in merged]
    assert len(keys) == len(set(keys))
    titles = choose_holdout_titles(sets, 1)
    assert len(titles) == 1 and titles[0] in {"Tower", "Troops"}  # present in both files
    assert choose_holdout_titles(sets, 1) == titles  # deterministic
    train_ex, val_ex, held = load_splits(files, holdout_count=1)
    assert held == titles
    assert {e.title for e in val_ex} == set(titles)
    assert not {e.title for e in train_ex} & set(titles)
    assert any(e.is_impossible for e in val_ex)


def test_features_map_answers_to_tokens(files: list[str]) -> None:
    from transformers import AutoTokenizer

    from rag_train.reader import base_model_path

    tok = AutoTokenizer.from_pretrained(base_model_path())
    exs = dedupe(load_squad(files[1]))
    feats = build_train_features(exs, tok, max_len=24, stride=8)
    assert len(feats) > len(exs)  # short windows: several per paragraph
    seen_answer = set()
    for i in range(len(feats)):
        ex = exs[feats.example_index[i]]
        s, e = feats.start_positions[i], feats.end_positions[i]
        if ex.is_impossible:
            assert s == e == 0
        elif s > 0:
            text = tok.decode(feats.input_ids[i][s : e + 1])
            assert text.replace(" ", "") == ex.answers[0].lower().replace(" ", "")
            seen_answer.add(ex.qid)
    assert seen_answer == {e.qid for e in exs if not e.is_impossible}


def test_squad_metrics() -> None:
    assert score_one("the Paris!", ["Paris"]) == (1.0, 1.0)
    assert score_one("", []) == (1.0, 1.0)
    assert score_one("Paris", []) == (0.0, 0.0)
    em, f1 = score_one("4,000 troops in total", ["4,000 troops"])
    assert em == 0.0 and f1 == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    exs = [
        QAExample("a", "t", "c", "q", ["Paris"], [0]),
        QAExample("b", "t", "c", "q", [], []),
    ]
    m = summarize({"a": "Paris", "b": ""}, exs)
    assert m["exact"] == 100.0 and m["HasAns_f1"] == 100.0 and m["NoAns_accuracy"] == 100.0
    raw = {"a": ("Paris", 0.6, 0.1), "b": ("Lyon", 0.3, 0.2)}
    t, ratio, best = choose_threshold(raw, exs)
    assert ratio == 0.5 and 0.3 < t <= 0.6 and best["f1"] == 100.0
    # the no-answer score winning abstains whatever the threshold
    raw = {"a": ("Paris", 0.3, 0.1), "b": ("Lyon", 0.1, 0.2)}
    t, ratio, best = choose_threshold(raw, exs)
    assert best["f1"] == 100.0 and t <= 0.3
    # the prior: one answerable question that needs a low threshold against two unanswerable ones that
    # a low threshold answers wrongly; weighted 3:1 for the answerable side, the low threshold wins
    exs3 = [*exs, QAExample("c", "t", "c", "q", [], [])]
    raw = {"a": ("Paris", 0.2, 0.1), "b": ("Lyon", 0.25, 0.1), "c": ("Nice", 0.25, 0.1)}
    assert choose_threshold(raw, exs3, prior=0.75)[0] <= 0.2
    assert choose_threshold(raw, exs3, prior=1 / 3)[0] > 0.25


def test_best_threshold_scores_one_given_threshold() -> None:
    from rag_train.export import best_threshold

    exs = [QAExample("a", "t", "c", "q", ["Paris"], [0]), QAExample("b", "t", "c", "q", [], [])]
    raw = {"a": ("Paris", 0.6, 0.1), "b": ("Lyon", 0.3, 0.2)}
    t, value = best_threshold(raw, exs, 0.75, 0.5)
    assert 0.3 < t <= 0.6 and value == pytest.approx(1.0)
    # at 0.2 both answer: the unanswerable one (weight 0.25) is wrong
    assert best_threshold(raw, exs, 0.75, 0.5, only=0.2) == (0.2, pytest.approx(0.75))
    assert best_threshold(raw, exs, 0.75, 0.5, only=0.9) == (0.9, pytest.approx(0.25))


def test_rechoose_records_the_rule_and_the_card(tmp_path: Path) -> None:
    from rag.answer import AnswerSettings
    from rag_train.rechoose import record

    (tmp_path / "reader_config.json").write_text(json.dumps(
        {"max_len": 256, "threshold": 0.04, "answer_ratio": 0.2, "confidence": [[0.1, 0.2]]}))
    (tmp_path / "README.md").write_text("# card\n\nbody\n\n## Passages read\n\nold\n\n## Later\n\nkept\n")
    row = {"threshold": 0.002, "answer_ratio": 0.3, "expected_f1": 51.0, "exact": 47.0, "f1": 53.0,
           "HasAns_f1": 48.0, "NoAns_accuracy": 58.0, "read_p50_ms": 80.0}
    rows = {3: {"top_k": 3, **row}, 5: {"top_k": 5, **row, "expected_f1": 51.5}}
    result = {"articles": ["Pharmacy"], "questions": 10, "prior": 0.75, "tolerance": 1.0, "chosen": rows[3],
              "rerank_depth": 5}
    for _ in range(2):  # recording again replaces the section instead of adding a second one
        record(tmp_path, result, rows, [[0.05, 0.1], [0.5, 0.6]])
    s = AnswerSettings.from_reader_config(tmp_path)
    assert (s.top_k, s.threshold, s.answer_ratio, s.rerank_depth) == (3, 0.002, 0.3, 5)
    assert s.confidence == ((0.05, 0.1), (0.5, 0.6))
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("# card\n\nbody\n") and card.count("## Passages read") == 1 and "| **3** |" in card
    assert "**top_k 3**, threshold **0.0020**, ratio **0.30**, the passages read being the first of 5" in card
    assert "\nold\n" not in card and card.endswith("\n\n## Later\n\nkept\n")  # a later section stays


def test_hard_negatives_pick_related_paragraphs_without_the_answer() -> None:
    from rag_train.reader import QAExample, hard_negatives

    gold = "The tower was built in 1889 for the fair."
    related = "The tower is painted every seven years; the tower is 330 metres tall."
    has_answer = "Visitors in 1889 climbed the stairs."
    other = "Paris has many bridges."
    ex = [
        QAExample("q1", "T", gold, "When was the tower built?", ["1889"], [gold.index("1889")]),
        QAExample("q2", "T", related, "How tall is the tower?", ["330 metres"], [related.index("330")]),
        QAExample("q3", "T", has_answer, "Who climbed?", ["Visitors"], [0]),
        QAExample("q4", "T", other, "What does Paris have?", [], []),  # unanswerable: no negatives
        QAExample("q5", "U", "Another article entirely, about towers.", "What is this about?", ["towers"], [31]),
    ]
    negs = hard_negatives(ex, per_question=1)
    by_q = {n.qid: n for n in negs}
    assert by_q["q1-neg0"].context == related  # most shared words, and no "1889"
    assert all(n.is_impossible and n.title == "T" and n.question for n in negs if n.qid != "q5-neg0")
    assert "q4-neg0" not in by_q and "q5-neg0" not in by_q  # no other paragraph in article U
    assert all("1889" not in n.context for n in negs if n.qid.startswith("q1"))
    assert hard_negatives(ex, 0) == []


def test_cut_context_keeps_the_answers_block_with_exact_offsets() -> None:
    from rag_train.reader import QAExample, cut_context

    paras = ["Title of a paper", "Abstract: the virus binds the receptor ACE2 in the lung.",
             "Methods: we sampled " + "many patients " * 10 + "in 2019.", "Results: fever was the first sign."]
    context = "\n\n".join(paras)
    answer = "fever"
    ex = QAExample("q", "Paper", context, "What was the first sign?", [answer], [context.index(answer)])
    cut = cut_context(ex, max_chars=120)
    assert cut is not None and len(cut.context) <= 120 and cut.context in context
    assert cut.context[cut.answer_starts[0] : cut.answer_starts[0] + len(answer)] == answer
    assert cut.context == paras[3]  # "Methods" (over 120 characters) is a block alone; the answer's is the last
    assert cut_context(ex, max_chars=len(context)) is ex  # short enough: unchanged
    impossible = QAExample("u", "Paper", context, "Who funded it?", [], [])
    assert cut_context(impossible, max_chars=50) is impossible
    across = QAExample("x", "Paper", context, "?", ["lung.\n\nMethods"], [context.index("lung.")])
    assert cut_context(across, max_chars=60) is None  # the answer crosses a block edge


def test_schedules_from_log_follow_an_extended_run(tmp_path: Path) -> None:
    from rag_train.export import _training_command
    from rag_train.reader import schedules_from_log

    log = tmp_path / "train.log"
    log.write_text(
        "2026-11-23 01:00:00,000 INFO schedule: 10 steps/epoch, 20 steps total, config {}\n"
        "2026-11-23 01:00:10,000 INFO step 10/20 epoch 1.00 loss 2.0\n"
        "2026-11-23 01:01:00,000 INFO schedule: 10 steps/epoch, 20 steps total, config {}\n"
        "2026-11-23 01:01:01,000 INFO resumed from x/checkpoint.pt at step 10\n"
        "2026-11-23 01:01:10,000 INFO step 20/20 epoch 2.00 loss 1.5\n"
        "2026-11-23 02:00:00,000 INFO schedule: 10 steps/epoch, 40 steps total, config {}\n"
        "2026-11-23 02:00:01,000 INFO resumed from x/checkpoint.pt at step 20\n"
        "2026-11-23 02:00:10,000 INFO step 30/40 epoch 3.00 loss 1.2\n"
        "2026-11-23 02:00:20,000 INFO step 40/40 epoch 4.00 loss 1.1\n"
    )
    assert schedules_from_log(log) == [
        {"steps_per_epoch": 10, "total": 20, "first": 0, "last": 20},
        {"steps_per_epoch": 10, "total": 40, "first": 20, "last": 40},
    ]
    cmd = _training_command(TrainConfig(out=str(tmp_path), epochs=4.0)).splitlines()
    assert len(cmd) == 2 and "--epochs 2 --resume" in cmd[0] and "--epochs 4 --resume" in cmd[1]
    extra = TrainConfig(out=str(tmp_path), epochs=4.0, extra_files=["q.json.gz:800"], swapped_questions=0.5)
    assert "--swapped-questions 0.5 --extra-file q.json.gz:800 --epochs 2" in _training_command(extra)


def test_main_reports_missing_data(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path / "run"), "--train-file", str(tmp_path / "absent.json")]) == 2


def gold_like(text: str) -> Passage:
    return Passage(chunk_id=0, doc_id="d", title="t", start=0, end=len(text), text=text, score=1.0)


def test_training_smoke_and_resume(files: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = TrainConfig(
        out=str(out), train_files=files, holdout_count=1, split_file=None, max_len=48, stride=16, batch_size=2,
        epochs=2.0, max_steps=3, save_every=2, threads=1,
    )
    final = train(cfg)
    assert (final / "config.json").exists() and (final / "model.safetensors").exists()
    assert (out / "checkpoint.pt").exists()
    log = (out / "train.log").read_text()
    assert "step 3/3" in log and "held-out articles" in log
    meta = json.loads((out / "train_meta.json").read_text())
    assert meta["steps"] == 3 and meta["holdout_titles"]
    # resume: continues from step 3 instead of starting over
    cfg.max_steps, cfg.resume = 4, True
    train(cfg)
    log = (out / "train.log").read_text()
    assert "resumed from" in log and "at step 3" in log and "step 4/4" in log
    # the trained folder loads as a reader through the public code
    from rag.reader import SpanReader

    r = SpanReader.load(final)
    spans, na = r.read("Where is the Eiffel Tower?", [])
    assert spans == [] and na == 1.0
    # export: validation on the held-out article, threshold, fp16 / int8 / ONNX, model card, size budget
    from rag_train.export import MAX_EXPORT_BYTES, dir_size, evaluate_and_export

    export = tmp_path / "export"
    report = evaluate_and_export(final, export, cfg)
    assert set(report["backends"]) == {"torch", "onnx"}
    assert all("at_threshold" in b for b in report["backends"].values()), report["backends"]
    # the shipped rule was chosen end to end (retrieval over the paragraphs) and is what the folder says
    assert report["open"]["threshold"] == pytest.approx(report["threshold"], abs=1e-6)
    assert report["open"]["answer_ratio"] in (0.5, 0.4, 0.3, 0.2, 0.1)
    card = (export / "README.md").read_text()
    assert "python -m rag_train" in card and "Apache-2.0" in card
    # every training file is listed with its license (these fixtures are in no README: "unknown")
    assert all(f"| `{f}` | (not in the qa-train README) | unknown |" in card for f in files)
    settings = json.loads((export / "reader_config.json").read_text())
    assert settings["threshold"] == report["threshold"]
    assert dir_size(export) <= MAX_EXPORT_BYTES
    shipped = SpanReader.load(export)  # whichever backend was shipped loads through the public code
    assert shipped.backend == ("onnx" if report["shipped_onnx"] else "torch")
    spans, na = shipped.read("Where is the Eiffel Tower?", [gold_like(CTX_A)])
    assert all(CTX_A[s.start : s.end] == s.text for s in spans)


@needs_data
def test_real_data_splits_are_disjoint() -> None:
    from eval.squad import SPLIT_FILE, read_article_split

    split = read_article_split(SPLIT_FILE)
    assert set(split["tune"]).isdisjoint(split["test"]) and len(split["tune"]) == len(split["test"]) == 12
    assert set(split["fit"]) | set(split["select"]) == set(split["tune"])
    train_ex, val_ex, titles = load_splits(DEFAULT_TRAIN_FILES, split_file=str(SPLIT_FILE))
    assert titles == sorted(split["select"])
    # Pharmacy and Victoria: the tuning articles reader I (ae0323e) never trained on stay out of training
    assert {"Pharmacy", "Victoria_(Australia)"} <= set(split["select"])
    # never trained on: the test half and the tuning half's selection articles
    assert not {e.title for e in train_ex} & (set(split["test"]) | set(split["select"]))
    assert {e.title for e in val_ex} == set(split["select"])
    assert sum(e.is_impossible for e in val_ex) > 100 and sum(not e.is_impossible for e in val_ex) > 100
    keys = [(" ".join(e.question.split()).lower(), e.context) for e in train_ex + val_ex]
    assert len(keys) == len(set(keys))


def _member(root: Path, name: str, value: float, titles: list[str]) -> Path:
    import torch
    from safetensors.torch import save_file

    final = root / name / "final"
    final.mkdir(parents=True)
    save_file({"w": torch.full((2, 3), value), "b": torch.tensor([value, -value])}, str(final / "model.safetensors"))
    (final / "config.json").write_text('{"model_type": "bert"}')
    (final / "tokenizer.json").write_text("{}")
    cfg = {"out": str(root / name), "lr": 3e-5, "epochs": 1.0}
    (root / name / "train_meta.json").write_text(json.dumps({"config": cfg, "holdout_titles": titles, "steps": 7}))
    return final


def test_soup_averages_members_and_records_them(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from rag_train.export import _soup_commands
    from rag_train.soup import SoupError, average, main

    a = _member(tmp_path, "a", 1.0, ["T1", "T2"])
    b = _member(tmp_path, "b", 4.0, ["T1", "T2"])
    final = average([a, b], tmp_path / "soup")
    w = load_file(str(final / "model.safetensors"))
    assert w["w"].tolist() == [[2.5] * 3] * 2 and w["b"].tolist() == [2.5, -2.5]
    assert (final / "config.json").exists() and (final / "tokenizer.json").exists()
    meta = json.loads((tmp_path / "soup" / "train_meta.json").read_text())
    assert meta["soup"]["members"] == [str(a), str(b)] and meta["holdout_titles"] == ["T1", "T2"]
    # the card lists each member's training command, then the soup's
    cmds = _soup_commands(meta).splitlines()
    assert cmds[-1] == f"python -m rag_train.soup --out {tmp_path / 'soup'} {a} {b}"
    assert any(f"--out {tmp_path / 'a'}" in c for c in cmds) and any(f"--out {tmp_path / 'b'}" in c for c in cmds)
    # members that held out other articles would leak validation questions into the average
    c = _member(tmp_path, "c", 0.0, ["T3"])
    with pytest.raises(SoupError, match="different articles"):
        average([a, c], tmp_path / "bad")
    assert main(["--out", str(tmp_path / "bad"), str(a), str(c)]) == 2
    with pytest.raises(SoupError, match="at least two"):
        average([a], tmp_path / "bad")


def test_unseen_articles_exclude_every_stage_a_run_continued(tmp_path: Path) -> None:
    """A reader trained in stages (``--base-model <run>/final``) has seen the articles of every stage:
    the comparison on unseen SQuAD-train articles leaves all of them out."""
    from rag_train.compare import seen_titles
    from rag_train.reader import recorded_config, sampled_titles

    train = str(squad_file(tmp_path / "train.json", False))

    def run(name: str, skip: int, base: str | None) -> Path:
        folder = tmp_path / name
        (folder / "final").mkdir(parents=True)
        cfg = {"out": str(folder), "train_files": [train], "split_file": "", "sample_questions": 2,
               "sample_skip": skip, "base_model": base}
        (folder / "train_meta.json").write_text(json.dumps({"config": cfg}))
        return folder

    first = run("stage1", 0, None)
    second = run("stage2", 2, str(first / "final"))
    one, two = seen_titles(first), seen_titles(second)
    assert one and one < two and len(two) == 3  # the second stage adds its own slice to the first's
    only_second = set(sampled_titles(recorded_config(json.loads((second / "train_meta.json").read_text()))))
    assert only_second and not only_second & one


def test_swapped_questions_are_unanswerable_copies_with_a_name_or_year_the_paragraph_lacks() -> None:
    from eval.squad import SquadExample
    from rag_train.unanswerable import name_kinds, swapped_questions

    def ex(qid: str, question: str, context: str, answer: str) -> SquadExample:
        return SquadExample(qid=qid, title=qid, context=context, question=question, answers=[answer],
                            answer_starts=[context.index(answer)])

    examples = [
        ex("a", "Who founded the Oslo Harbour Trust?", "Ingrid Dahl founded the Oslo Harbour Trust in 1921.",
           "Ingrid Dahl"),
        ex("b", "Who did Ingrid Dahl marry in 1925?", "In 1925 Ingrid Dahl married Per Lund in Bergen.", "Per Lund"),
        ex("c", "Where did Per Lund grow up?", "Per Lund grew up in Bergen.", "Bergen"),
        ex("d", "Who led the strike?", "Knut Berg led the strike of 1930.", "Knut Berg"),
    ]
    assert name_kinds(examples) == {"ingrid dahl": "person", "per lund": "person", "bergen": "place",
                                    "knut berg": "person"}
    out = swapped_questions(examples, 1.0, seed=3)
    assert out and all(s.is_impossible and s.source == "swapped" for s in out)
    by = {e.qid: e for e in examples}
    for s in out:
        original = by[s.qid.removesuffix("-swap")]
        assert s.context == original.context and s.question != original.question
        kept = set(original.question.rstrip("?").split())
        new = " ".join(w for w in s.question.rstrip("?").split() if w not in kept)  # the name or year put in
        assert new and new.casefold() not in s.context.casefold()
    assert swapped_questions(examples, 0.0) == []


def test_admission_fit_held_out_and_record_load_back(tmp_path: Path) -> None:
    """The admission script learns a separating feature leave-one-article-out, and what it records is
    what ``AnswerSettings`` loads and applies."""
    import numpy as np

    from rag.answer import ADMISSION_FEATURES, AnswerSettings
    from rag_train import admission

    rng = np.random.default_rng(0)
    rows = []
    for i in range(240):
        answerable = i % 3 != 0
        feats = {k: float(rng.normal()) for k in ADMISSION_FEATURES}
        feats["missing_names"] = float(not answerable) + 0.3 * float(rng.normal())  # the telling feature
        rows.append({"qid": f"q{i}", "title": f"t{i % 4}", "answerable": answerable, "text": "x",
                     "score": 0.5, "no_answer": 0.1, "f1": 1.0 if answerable else 0.0, "features": feats})
    p = admission.held_out(rows, 1.0, 0.75)
    has = np.array([r["answerable"] for r in rows])
    assert p[has].mean() > 0.8 and p[~has].mean() < 0.2  # learned on the other articles
    y, w = admission.targets(rows, 0.75)
    model = admission.fit(admission.matrix(rows), y, w, 1.0) | {"threshold": 0.5}
    assert model["weights"][ADMISSION_FEATURES.index("missing_names")] < 0
    (tmp_path / "reader_config.json").write_text(json.dumps({"threshold": 0.1}))
    result = {"questions": len(rows), "articles": ["t0", "t1", "t2", "t3"], "prior": 0.75, "chosen_c": 1.0,
              "threshold_rule": {"expected_f1": 50.0, "has_answer_f1": 60.0, "no_answer_accuracy": 30.0},
              "admission": {"1.0": {"expected_f1": 60.0, "has_answer_f1": 61.0, "no_answer_accuracy": 60.0}}}
    admission.record(tmp_path, model, result)
    settings = AnswerSettings.from_reader_config(tmp_path)
    assert settings.admission is not None and settings.threshold == 0.1
    for r, prob in zip(rows[:12], admission.probability(model, admission.matrix(rows[:12])), strict=True):
        assert settings.admission.probability(r["features"]) == pytest.approx(prob)
    assert "## Admission model" in (tmp_path / "README.md").read_text()


def test_sample_seed_keeps_the_questions_while_seed_redraws_the_rest(tmp_path: Path) -> None:
    """``--sample-seed`` fixes which articles are sampled, so ``--seed`` alone re-draws a run's training
    randomness on the very questions of another run (how reader IX's stage was re-drawn)."""
    from rag_train.reader import data_seed, sampled_titles

    arts = [{"title": f"T{i}", "paragraphs": [{"context": CTX_A, "qas": [
        {"id": f"q{i}", "question": "Where is the Eiffel Tower?", "answers": [{"text": "Paris", "answer_start": 22}]}
    ]}]} for i in range(40)]
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": "x", "data": arts}))

    def cfg(**kw: int) -> TrainConfig:
        return TrainConfig(train_files=[str(path)], sample_questions=10, sample_skip=10, **kw)  # type: ignore[arg-type]

    assert data_seed(cfg(seed=14)) == 14 and data_seed(cfg(seed=14, sample_seed=13)) == 13
    base = sampled_titles(cfg(seed=13))
    assert len(base) == 10
    assert sampled_titles(cfg(seed=14, sample_seed=13)) == base
    assert sampled_titles(cfg(seed=14)) != base  # without it, another seed trains on other articles
