"""`rag train-reader` on a few examples (rag/eval/train_reader.py; the real
run is `make train`, recorded in the model card). Its data: test_training_data.py."""
import json
import subprocess
import sys

import pytest

from rag.answer import reader as rd
from rag.eval.train_reader import (EMULATED_BF16, _batches, _bf16, _precision_lines, _token_lengths,
                                   evaluate_heldout, span_kl)
from rag.eval.training_data import Example, trained_seed
from conftest import ROOT

MINI2 = ROOT / "tests" / "fixtures" / "mini-squad2.json"
MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"


def test_without_both_kinds_of_held_out_decision_the_threshold_is_the_default():
    metrics, threshold = evaluate_heldout(None, None, [])
    assert threshold == 0.5 and metrics["held_out_questions"] == 0
    assert metrics["balanced_accuracy"] is None and metrics["answered"] is None  # not measured, not 0


@pytest.mark.model
def test_train_reader_writes_a_loadable_reproducible_artifact(tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        if name == "b":  # a damaged checkpoint left by an earlier run: started over, not a traceback
            out.mkdir()
            (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
        r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), str(MINI2),
                            "--out", str(out), "--max-examples", "24", "--max-holdout", "4"],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "threshold" in r.stdout
        assert ("checkpoint.pt is unreadable" in r.stderr) == (name == "b")
        outs.append(out)
    a, b = (json.loads((o / "manifest.json").read_text()) for o in outs)
    assert a["files"] == b["files"]  # same data and seed: the same adapter and heads, byte for byte
    assert a["options"]["precision"] == ("bf16" if _bf16("auto") else "fp32")  # what the run used
    assert a["base_model"] == rd.BASE_MODEL and a["seed"] == a["held_out_seed"] == 13
    assert {d["file"] for d in a["data"]} == {"mini-squad.json", "mini-squad2.json"}
    assert (outs[0] / "settings.json").is_file() and not (outs[0] / "checkpoint.pt").exists()
    reader = rd.Reader(outs[0])
    reader.check()
    (reading,) = reader.read("متى تأسست القاهرة؟", ["تأسست المدينة عام 969 على يد الفاطميين."])
    assert 0 <= reading.p_answer <= 1 and 0 <= reading.start <= reading.end

    # --init: the same data, another seed, started from reader "a" instead of fresh weights
    c = tmp_path / "c"
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), str(MINI2), "--out", str(c),
                        "--max-examples", "24", "--max-holdout", "4", "--init", str(outs[0]), "--seed", "14",
                        "--distractors", "--swap-names", "--keep-spans", "1"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((c / "manifest.json").read_text())
    assert (m["seed"], m["held_out_seed"]) == (14, 13)  # "a"'s held-out articles stay held out
    assert f"the articles {outs[0]} held out (seed 13)" in r.stderr  # the log, beside the progress
    assert trained_seed(c) == 13  # so `rag calibrate` holds out the same ones
    assert m["options"]["distract"] and m["options"]["swap"] and not a["options"]["distract"]
    assert m["options"]["keep_spans"] == 1.0 and a["options"]["keep_spans"] == 0.0
    assert m["options"]["init"]["reader"] == str(outs[0])
    assert m["options"]["init"]["adapter_sha256"] == a["files"]["adapter.safetensors"]
    assert m["files"] != b["files"]  # it did not start from fresh weights
    rd.Reader(c).check()


@pytest.mark.model
def test_frozen_layers_train_no_adapters_below_them_and_the_reader_loads(tmp_path):
    from safetensors import safe_open

    from rag.config import Config

    net = rd.build_net(rd.base_folder(Config.load().cache_dir), frozen_layers=4, attention_dropout=0.0)
    trained = [n for n, p in net.named_parameters() if p.requires_grad and "lora_" in n]
    layers = {int(n.split("layer.")[1].split(".")[0]) for n in trained}
    assert layers == set(range(4, 12))
    probs = [m.p for n, m in net.encoder.named_modules() if n.endswith("attention.self.dropout")]
    assert len(probs) == 12 and set(probs) == {0.0}

    out = tmp_path / "fast"
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(out),
                        "--max-examples", "16", "--max-holdout", "4", "--frozen-layers", "4",
                        "--attention-dropout", "0"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["lora"]["frozen_layers"] == 4 and m["options"]["attention_dropout"] == 0.0
    with safe_open(str(out / "adapter.safetensors"), "pt") as f:
        assert {int(k.split("layer.")[1].split(".")[0]) for k in f.keys()} == set(range(4, 12))
    (reading,) = rd.Reader(out).read("متى تأسست القاهرة؟", ["تأسست المدينة عام 969 على يد الفاطميين."])
    assert 0 <= reading.p_answer <= 1

    # training further from it needs the same shape, said in one line
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(tmp_path / "o"),
                        "--init", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        f"error: the reader in {out} has 4 frozen layers; training from it needs the same (--frozen-layers 4)"]


def test_precision_is_bf16_where_asked_or_where_the_cpu_has_it(monkeypatch):
    import torch

    assert _bf16("fp32") is False and _bf16("bf16") is True
    with pytest.raises(ValueError, match="precision"):
        _bf16("fp16")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert _bf16("auto") is False  # emulated bfloat16 would be slower than fp32
    assert _precision_lines(True) == ["training in bf16", EMULATED_BF16]  # forced, and emulated: warned
    assert _precision_lines(False) == ["training in fp32"]
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert _bf16("auto") is True
    assert _precision_lines(True) == ["training in bf16"]


def test_span_kl_is_zero_only_for_the_teachers_own_distribution_over_the_passage():
    import torch

    torch.manual_seed(0)
    teacher = torch.randn(3, 10)
    passage = torch.zeros(3, 10, dtype=torch.bool)
    passage[:, 4:9] = True  # question and special tokens are outside
    assert span_kl(teacher.clone(), teacher, passage).item() == pytest.approx(0.0, abs=1e-6)
    outside = teacher.clone()
    outside[:, :4] += 5.0  # logits where no span may start do not count
    assert span_kl(outside, teacher, passage).item() == pytest.approx(0.0, abs=1e-6)
    shifted = teacher.clone()
    shifted[:, 5] += 2.0  # moving mass inside the passage does
    assert span_kl(shifted, teacher, passage).item() > 0.01
    student = torch.randn(3, 10, requires_grad=True)
    span_kl(student, teacher, passage).backward()  # a loss gradient reaches the student, never outside
    assert student.grad[:, :4].abs().sum().item() == 0 and student.grad[:, 4:9].abs().sum().item() > 0


def test_init_from_a_missing_reader_is_one_clear_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(tmp_path / "o"),
                        "--init", str(tmp_path / "nothing")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"error: cannot train from --init {tmp_path / 'nothing'}: ")
    assert "SANAD_READER" not in r.stderr  # advice for answering, not for training
    assert not (tmp_path / "o").exists()


@pytest.mark.model
def test_init_from_a_reader_without_a_seed_is_one_clear_line(tmp_path):
    """Without its seed, the articles a reader held out are unknown: training on
    from it could measure it on what it learned."""
    import shutil
    init = tmp_path / "r"
    shutil.copytree(ROOT / "rag" / "models" / "reader", init)
    manifest = json.loads((init / "manifest.json").read_text())
    del manifest["seed"]
    (init / "manifest.json").write_text(json.dumps(manifest))
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(tmp_path / "o"),
                        "--init", str(init)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == f"error: cannot train from --init {init}: its manifest records no seed, so the articles " \
                       "it held out are unknown; pass a folder `rag train-reader --out` wrote\n"
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option, bad, message", [
    *[("--repeat", bad, f"--repeat wants NAME=TIMES, a whole number of at least 1 (got {bad!r})")
      for bad in ("mini-squad=0", "mini-squad=two", "mini-squad")],
    *[("--lora-dropout", bad, f"--lora-dropout wants a probability from 0 up to 1 (got {float(bad)})")
      for bad in ("-0.1", "1", "1.5")],
    ("--attention-dropout", "1", "--attention-dropout wants a probability from 0 up to 1 (got 1.0)"),
    ("--keep-spans", "-1", "--keep-spans wants a weight of at least 0 (got -1.0)"),
    ("--keep-spans", "0.5", "--keep-spans keeps the spans of the reader named by --init; name one"),
    *[("--frozen-layers", bad, f"--frozen-layers wants a number of blocks from 0 to 11 (got {bad})")
      for bad in ("-1", "12")],
])
def test_a_bad_option_is_one_clear_line(tmp_path, option, bad, message):
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(tmp_path / "r"),
                        option, bad], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra, want", [([], 0.3), (["--span-weight", "aaqad-train=0.5"], 0.5)])
def test_aaqad_spans_weigh_less_however_the_file_is_named(tmp_path, monkeypatch, extra, want):
    # the machine-translated set's span weight used to apply only when --data was left out
    import rag.eval.train_reader as tr
    from rag import cli

    aaqad = tmp_path / "aaqad-train.json"
    aaqad.write_bytes(MINI2.read_bytes())
    seen = []

    class Stop(Exception):
        pass

    def record(options, **_):
        seen.append(options)
        raise Stop  # the options are all this test needs: no training

    monkeypatch.setattr(tr, "train", record)
    with pytest.raises(Stop):
        cli.main(["train-reader", "--data", str(MINI), str(aaqad), "--out", str(tmp_path / "r"), *extra])
    assert seen[0].span_weight == {"aaqad-train": want}


class WordTokenizer:
    """A stand-in for the e5 tokenizer: one token per word, plus three for the pair."""

    def __call__(self, questions, windows, truncation=None, max_length=None):
        return {"input_ids": [[0] * min(max_length, 3 + len(q.split()) + len(w.split()))
                              for q, w in zip(questions, windows)]}


def test_token_buckets_batch_by_tokens_and_keep_every_example_once_an_epoch():
    import random

    rnd = random.Random(0)
    # characters and tokens disagree: a few long words, or many short ones, in the same characters
    examples = [Example(f"q{i}", "سؤال", ("كلمةطويلةجدا " * n if i % 2 else "ب " * (7 * n)).strip(), 0, None, "other")
                for i, n in enumerate(rnd.choices(range(1, 12), k=400))]
    examples += examples[:50]  # repeated, as --repeat does
    length = _token_lengths(WordTokenizer(), examples)

    def padding(batches):
        tokens = [[length(e) for e in b] for b in batches]
        return 1 - sum(map(sum, tokens)) / sum(max(t) * len(t) for t in tokens)

    by_chars = _batches(examples, 16, random.Random(13))
    by_tokens = _batches(examples, 16, random.Random(13), length)
    for batches in (by_chars, by_tokens):
        assert sorted(id(e) for b in batches for e in b) == sorted(id(e) for e in examples)
    assert padding(by_tokens) < 0.05 < padding(by_chars)
    assert by_tokens == _batches(examples, 16, random.Random(13), length)  # seeded
