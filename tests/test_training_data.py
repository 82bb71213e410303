"""The reader's training data (rag/eval/training_data.py): examples from
SQuAD-format files, the held-out split, and malformed files named by row."""
import json
import subprocess
import sys

import pytest

from rag.answer import reader as rd
from rag.errors import DatasetError
from rag.eval.evalsets import load, read_squad
from rag.eval.training_data import HOLDOUT, _title_hash, examples_from, held_titles
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
    from rag.eval.training_data import _Window, _beside_answer, _distractor
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
    from rag.eval.training_data import _swap_name
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
    from rag.eval.training_data import ATTRIBUTES, _swap_attribute
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


def test_the_same_file_named_twice_is_one_clear_line(tmp_path):
    """Per-file options (--repeat, --span-weight) go by the file's name: two
    files of one name would share them, and the same file twice would train
    twice on each of its examples."""
    other = tmp_path / "mini-squad.json"
    other.write_bytes(MINI2.read_bytes())
    for data in ([MINI, MINI], [MINI, other]):
        r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", *map(str, data), "--out",
                            str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.strip() == ("error: --data names more than one file called mini-squad.json; files are told "
                                    "apart by name (--repeat, --span-weight), so give each its own")
        assert not (tmp_path / "out").exists()
