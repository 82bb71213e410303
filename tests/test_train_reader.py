"""Training data for the reader, and `rag train-reader` itself on a few
examples (the real run is `make train`, recorded in the model card)."""
import json
import subprocess
import sys

import pytest

from rag.answer import reader as rd
from rag.errors import DatasetError
from rag.eval.evalsets import load, read_squad
from rag.eval.train_reader import (EMULATED_BF16, HOLDOUT, Example, _batches, _bf16, _precision_lines,
                                   _title_hash, _token_lengths, evaluate_heldout, examples_from, held_titles,
                                   span_kl, trained_seed)
from conftest import ROOT

MINI2 = ROOT / "tests" / "fixtures" / "mini-squad2.json"
MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"


def test_squad2_files_are_read_with_their_unanswerable_questions():
    paras = read_squad(MINI2)
    qas = [qa for p in paras for qa in p.qas]
    assert sum(qa.impossible for qa in qas) == 3 and all(not qa.answers for qa in qas if qa.impossible)
    assert any(qa.plausible for qa in qas)
    s = load(MINI2)
    impossible = [q for q in s.questions if q.impossible]
    assert len(impossible) == 3 and all(not q.answerable and q.sources for q in impossible)


def test_examples_hold_the_answer_verbatim_and_negatives_do_not():
    examples, _ = examples_from(MINI, seed=13)
    assert {e.kind for e in examples} >= {"answer", "same", "other"}
    golds = {qa.id: [t for t, _ in qa.answers] for p in read_squad(MINI) for qa in p.qas}
    for e in examples:
        if e.label:
            lo, hi = e.span
            assert e.window[lo:hi] in golds[e.qid]
        else:
            assert e.span is None
            if e.kind == "same":
                assert not any(g in e.window for g in golds[e.qid])


def test_cut_negatives_keep_the_answers_neighbours_but_never_the_answer():
    plain, _ = examples_from(MINI, seed=13)
    examples, _ = examples_from(MINI, seed=13, cut=True)
    cut = [e for e in examples if e.kind == "cut"]
    assert [e for e in examples if e.kind != "cut"] == plain  # the option only adds
    assert cut and all(e.label == 0 and e.span is None for e in cut)
    golds = {qa.id: [t for t, _ in qa.answers] for p in read_squad(MINI) for qa in p.qas}
    windows = {e.qid: e.window for e in examples if e.kind == "answer"}
    for e in cut:
        assert not any(g in e.window for g in golds[e.qid])
        # what is left is the gold window with one stretch (the answer's sentence) taken out
        whole, left = "".join(windows[e.qid].split()), "".join(e.window.split())
        assert len(left) < len(whole)
        assert any(whole.startswith(left[:k]) and whole.endswith(left[k:]) for k in range(len(left) + 1))
    # noisy files (span weight under 1) get none
    assert not [e for e in examples_from(MINI, seed=13, span_weight=0.3, cut=True)[0] if e.kind == "cut"]


def test_distractors_keep_the_answer_verbatim_beside_another_articles_sentence():
    plain, _ = examples_from(MINI, seed=13)
    examples, _ = examples_from(MINI, seed=13, distract=True)
    added = [e for e in examples if e.kind == "distract"]
    assert [e for e in examples if e.kind != "distract"] == plain  # the option only adds
    assert added and all(e.label == 1 for e in added)
    golds = {qa.id: [t for t, _ in qa.answers] for p in read_squad(MINI) for qa in p.qas}
    answers = {e.qid: e for e in examples if e.kind == "answer"}
    contexts = {qa.id: p.context for p in read_squad(MINI) for qa in p.qas}
    for e in added:
        lo, hi = e.span
        assert e.window[lo:hi] in golds[e.qid] and e.window[lo:hi] == answers[e.qid].window.__getitem__(
            slice(*answers[e.qid].span))
        assert len(e.window) <= rd.MAX_WINDOW_CHARS
        # something not from the question's own paragraph was put in
        assert any(w not in contexts[e.qid] for w in e.window.split())


def test_a_distractor_goes_before_or_after_the_answers_sentence_with_the_offsets_kept():
    from rag.eval.train_reader import _Window, _beside_answer, _distractor
    from rag.ingest.sentences import split_sentences

    context = "وُلد ماسك في بريتوريا. في عام 2002 أسس ماسك شركة سبيس إكس. ثم انتقل إلى كاليفورنيا."
    spans = split_sentences(context)
    lo = context.index("2002")
    answer = (lo, lo + 4)
    w = _Window(0, 0, len(context), context)
    other = "تأسست شركة أمازون عام 1994 في سياتل. وأسس بيزوس شركة بلو أوريجين عام 2000."
    d = _distractor("متى أسس ماسك شركة سبيس إكس؟", other, ["2002"])
    assert d == "وأسس بيزوس شركة بلو أوريجين عام 2000."  # the sentence sharing most of the question's words
    assert _distractor("متى أسس ماسك شركة سبيس إكس؟", other + " أسس شركة عام 2002.", ["2002"]) == d  # no gold
    for before in (True, False):
        text, (a, b) = _beside_answer(context, spans, w, answer, d, before)
        assert text[a:b] == "2002" and d in text
        assert (text.index(d) < text.index("في عام 2002")) == before
        assert text.replace(d + " ", "").replace(" " + d, "") == context
    # too long for a window even around the answer's sentence alone: none
    assert _beside_answer(context, spans, w, answer, "ك" * rd.MAX_WINDOW_CHARS, True) is None


def test_a_swapped_name_leaves_the_window_without_what_was_asked():
    from rag.eval.train_reader import _swap_name
    from rag.text import tokenize

    window = "تأسست شركة إنفيديا عام 1993. وضخت إنفيديا ملياري دولار في جولة تمويل xAI."
    lo = window.index("ملياري")
    hi = lo + len("ملياري دولار")
    out = _swap_name("كم ضخت إنفيديا في جولة تمويل xAI؟", "إنفيديا", "مايكروسوفت", window, {}, lo, hi)
    assert out == window.replace("إنفيديا", "مايكروسوفت")
    assert "ملياري دولار" in out and not set(tokenize("إنفيديا")) & set(tokenize(out))
    # the name is the answer, or the title does not hold a word of the question: none
    assert _swap_name("من ضخ ملياري دولار؟", "ملياري", "مايكروسوفت", window, {}, lo, hi) is None
    assert _swap_name("كم ضخت إنفيديا؟", "الذكاء الاصطناعي", "مايكروسوفت", window, {}, lo, hi) is None
    examples, _ = examples_from(MINI, seed=13, swap=True)
    plain, _ = examples_from(MINI, seed=13)
    assert [e for e in examples if e.kind != "swap"] == plain
    assert all(e.label == 0 and e.span is None for e in examples if e.kind == "swap")


def test_a_swapped_attribute_asks_for_something_the_paragraph_never_gives():
    from rag.eval.train_reader import ATTRIBUTES, _swap_attribute
    from rag.text import tokenize

    context = "بلغت رسوم حجز السيارة 50 ألف دولار، وبلغ عدد المشترين ألفًا. وسعرها الكامل لم يعلن."
    out = _swap_attribute("كم بلغ عددُ المشترين؟", context, "k")
    assert out is not None and out.startswith("كم بلغ ") and out.endswith(" المشترين؟")
    new = out.split()[2]
    assert new in ATTRIBUTES[0] and not set(tokenize(new)) & set(tokenize(context))  # not سعر: it is mentioned
    assert _swap_attribute("كم بلغ عدد المشترين؟", context, "k") == _swap_attribute("كم بلغ عدد المشترين؟", context, "k")
    assert _swap_attribute("ما اسم السيارة؟", context, "k").split()[1] in ATTRIBUTES[1]
    assert _swap_attribute("ما العدد الكلي؟", context, "k").split()[1].startswith("ال")  # the article stays
    assert _swap_attribute("متى حجز ألتمان السيارة؟", context, "k") is None  # asks for no attribute
    examples, _ = examples_from(MINI, seed=13, attribute=True)
    plain, _ = examples_from(MINI, seed=13)
    assert [e for e in examples if e.kind != "attribute"] == plain
    swapped = [e for e in examples if e.kind == "attribute"]
    assert swapped and all(e.label == 0 and e.span is None for e in swapped)
    answers = {e.qid: e for e in plain if e.kind == "answer"}
    assert all(e.window == answers[e.qid].window and e.question != answers[e.qid].question for e in swapped)


def test_unanswerable_questions_give_near_miss_negatives_and_a_holdout_is_kept():
    examples, held = examples_from(MINI2, seed=13)
    impossible = [e for e in examples if e.kind == "impossible"]
    assert impossible and all(e.label == 0 for e in impossible)
    questions = {e.qid for e in examples} | {h.qid for h in held}
    assert held and not {e.qid for e in examples} & {h.qid for h in held}  # held-out articles never train
    assert len(questions) <= 10
    # the split is by article, seeded: another seed may hold out another one
    assert examples_from(MINI2, seed=13)[0] == examples


def test_a_held_out_seed_keeps_its_articles_out_whatever_the_seed_draws():
    """Training on from a reader (--init) with another --seed keeps the init's
    held-out articles: its own would include articles the init learned."""
    own = {h.qid for h in examples_from(MINI, seed=13)[1]}
    other = {h.qid for h in examples_from(MINI, seed=14)[1]}
    assert own and other and own != other  # the two seeds split this file differently
    examples, held = examples_from(MINI, seed=14, held_seed=13)
    assert {h.qid for h in held} == own
    assert not {e.qid for e in examples} & own


def test_one_article_in_ten_is_held_out_and_at_least_one_of_a_small_file():
    titles = [f"مقالة {i}" for i in range(200)]
    drawn = {t for t in titles if _title_hash(t, 13) % HOLDOUT == 0}
    assert held_titles(titles, 13) == drawn and 10 <= len(drawn) <= 30  # a large file keeps its draw
    small = [t for t in titles if t not in drawn][:3]  # a maintainer's three articles, none drawn
    assert held_titles(small, 13) == {min(small, key=lambda t: _title_hash(t, 13))}
    assert held_titles(small, 13) == held_titles(reversed(small), 13)  # by the seeded hash, not file order
    assert held_titles(small[:1], 13) == frozenset()  # one article: it is all there is to train on


def test_without_both_kinds_of_held_out_decision_the_threshold_is_the_default():
    metrics, threshold = evaluate_heldout(None, None, [])
    assert threshold == 0.5 and metrics["held_out_questions"] == 0
    assert metrics["balanced_accuracy"] is None and metrics["answered"] is None  # not measured, not 0


def test_questions_left_out_of_training_are_named_by_row(tmp_path):
    context = "ذهب أحمد إلى السوق يوم الجمعة. ثم عاد إلى بيته مساءً."
    qas = [{"id": "ok", "question": "متى ذهب أحمد إلى السوق؟", "answers": [{"text": "يوم الجمعة", "answer_start": 19}]},
           {"id": "bare", "question": "من ذهب إلى السوق؟"},  # SQuAD v1 without answers
           {"id": "elsewhere", "question": "متى عاد أحمد؟", "answers": [{"text": "يوم الخميس", "answer_start": 40}]}]
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"data": [{"title": "أحمد", "paragraphs": [{"context": context, "qas": qas}]}]},
                            ensure_ascii=False), encoding="utf-8")
    skipped: dict[str, list[str]] = {}
    examples, _ = examples_from(f, seed=13, skipped=skipped)
    assert skipped == {"no_answer": ["data[0].paragraphs[0].qas[1]"], "not_found": ["data[0].paragraphs[0].qas[2]"]}
    assert {e.qid for e in examples} == {"ok"}
    only_bad = tmp_path / "bad-rows.json"
    only_bad.write_text(json.dumps({"data": [{"title": "أحمد", "paragraphs": [{"context": context, "qas": qas[1:]}]}]},
                                   ensure_ascii=False), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(only_bad), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "not marked is_impossible (first: data[0].paragraphs[0].qas[0])" in r.stderr
    assert "not found in its paragraph (first: data[0].paragraphs[0].qas[1])" in r.stderr


@pytest.mark.parametrize("doc, where", [
    ({"data": [{"title": "x", "paragraphs": [{"context": "نص", "qas": [{"id": "1"}]}]}]},
     "data[0].paragraphs[0].qas[0]"),
    ({"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}, "data[0].paragraphs[0]"),
    ({"rows": []}, "top-level 'data'"),
    (b'{"data": [', "not JSON"),
    ('{"data": []} مقال'.encode("cp1256"), "not UTF-8"),
])
def test_a_malformed_file_names_the_file_and_the_row(tmp_path, doc, where):
    bad = tmp_path / "bad.json"
    bad.write_bytes(doc) if isinstance(doc, bytes) else bad.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match=r"bad\.json") as e:
        examples_from(bad, seed=1)
    assert where in str(e.value)
    r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(bad), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and where in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.model
def test_train_reader_writes_a_loadable_reproducible_artifact(tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), str(MINI2),
                            "--out", str(out), "--max-examples", "24", "--max-holdout", "4"],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "threshold" in r.stdout
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


def test_near_misses_cut_the_answer_sentence_and_keep_every_other_offset(tmp_path):
    from rag.eval.train_reader import near_miss_file

    context = ("تأسست شركة xAI في عام 2023 على يد إيلون ماسك. وجمعت الشركة 20 مليار دولار في جولة تمويل. "
               "ومقرها في مدينة سان فرانسيسكو.")
    qas = [{"id": "q1", "question": "متى تأسست xAI؟", "answers": [{"text": "2023", "answer_start": context.index("2023")}]},
           {"id": "q2", "question": "كم جمعت الشركة؟",
            "answers": [{"text": "20 مليار دولار", "answer_start": context.index("20 مليار")}]},
           {"id": "q3", "question": "أين مقرها؟",
            "answers": [{"text": "سان فرانسيسكو", "answer_start": context.index("سان فرانسيسكو")}]}]
    src = tmp_path / "src.json"
    src.write_text(json.dumps({"data": [{"title": "xAI", "paragraphs": [{"context": context, "qas": qas}]}]},
                              ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "near.json"
    assert near_miss_file(src, 13, out) == 1
    para = json.loads(out.read_text(encoding="utf-8"))["data"][0]["paragraphs"][0]
    impossible = [qa for qa in para["qas"] if qa.get("is_impossible")]
    assert len(impossible) == 1 and impossible[0]["answers"] == []
    original = next(qa for qa in qas if qa["id"] == impossible[0]["id"])["answers"][0]["text"]
    assert original not in para["context"] and len(para["context"]) < len(context)
    for qa in para["qas"]:
        for ans in qa["answers"]:
            assert para["context"][ans["answer_start"]:ans["answer_start"] + len(ans["text"])] == ans["text"]
    assert len(para["qas"]) == 3  # each of the others had its answer in another sentence


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
