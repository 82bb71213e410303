"""The calibration layer (rag/answer/calibration.py): fitting, storing and deciding
with it, on hand-made features; no model."""
import json
import math
import random
from dataclasses import replace

import pytest

from rag.answer import calibration as cal
from rag.answer.decision import decide
from rag.answer.question import analyze
from rag.answer.settings import AnswerSettings
from test_decision import SETTINGS, candidate


def synthetic(n=400, seed=1):
    """Decisions where the answer depends on the reader's score and on the
    coverage together, as in the real features (each alone is not enough)."""
    rnd = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        y = rnd.random() < 0.4
        f = dict.fromkeys(cal.FEATURES, 0.0)
        f["p1"] = rnd.gauss(1.0 if y else 0.0, 0.8)
        f["coverage"] = min(1.0, max(0.0, rnd.gauss(0.7 if y else 0.4, 0.2)))
        f["dense"] = 0.85  # constant: standardization must not divide by zero
        rows.append(f)
        labels.append(int(y))
    return rows, labels


def test_fit_learns_both_signals_and_beats_either_alone():
    rows, labels = synthetic()
    c = cal.fit(rows, labels)
    w = dict(zip(c.names, c.weights))
    assert w["p1"] > 0 and w["coverage"] > 0 and w["dense"] == pytest.approx(0.0, abs=1e-6)

    def balanced(scores):
        return sum(cal.choose_threshold(scores, labels)[1:]) / 2

    both = balanced([c.probability(r) for r in rows])
    assert both > balanced([r["p1"] for r in rows]) and both > balanced([r["coverage"] for r in rows])


def test_probability_rises_with_the_reader_score():
    c = cal.fit(*synthetic())
    f = dict.fromkeys(cal.FEATURES, 0.0)
    ps = [c.probability({**f, "p1": v}) for v in (-3, -1, 0, 1, 3)]
    assert ps == sorted(ps) and 0 < ps[0] < ps[-1] < 1


def test_fit_needs_both_classes():
    rows, _ = synthetic(20)
    with pytest.raises(ValueError):
        cal.fit(rows, [1] * 20)


def test_choose_threshold_balances_the_two_rates():
    t, answered, refused = cal.choose_threshold([0.9, 0.8, 0.7, 0.3, 0.2, 0.6], [1, 1, 1, 0, 0, 0])
    assert 0.6 < t <= 0.7 and answered == 1.0 and refused == 1.0


def test_with_groups_the_threshold_is_the_middle_of_a_flat_top():
    # every threshold in (0.25, 0.55] separates the two classes: the argmax is the tie nearest 0.5,
    # the rule with groups the middle of the tie (a bootstrap cannot widen a perfect score's error)
    scores = [0.55 + 0.45 * i / 99 for i in range(100)] + [0.25 * i / 99 for i in range(100)]
    labels = [1] * 100 + [0] * 100
    groups = [f"a{i % 20}" for i in range(200)]
    assert cal.choose_threshold(scores, labels)[0] == 0.5
    t, answered, refused = cal.choose_threshold(scores, labels, groups)
    assert t == 0.405 and answered == 1.0 and refused == 1.0  # grid points 0.26 to 0.55


def test_with_groups_the_threshold_stays_near_the_best_of_a_peaked_curve():
    rnd = random.Random(3)
    scores = [min(1.0, max(0.0, rnd.gauss(0.65, 0.1))) for _ in range(2000)] + \
             [min(1.0, max(0.0, rnd.gauss(0.35, 0.1))) for _ in range(2000)]
    labels = [1] * 2000 + [0] * 2000
    groups = [f"a{i % 200}" for i in range(4000)]
    best = cal.choose_threshold(scores, labels)[0]
    t, answered, refused = cal.choose_threshold(scores, labels, groups, seed=5)
    assert abs(t - best) <= 0.05 and abs(t - 0.5) <= 0.05
    assert answered == sum(s >= t for s in scores[:2000]) / 2000 and refused == sum(s < t for s in scores[2000:]) / 2000
    # the within-one-error band is measured, so a seed moves it little
    assert abs(cal.choose_threshold(scores, labels, groups, seed=6)[0] - t) <= 0.03


def test_calibration_travels_in_settings_json(tmp_path):
    c = replace(cal.fit(*synthetic()), threshold=0.42)
    AnswerSettings(reader_threshold=0.56, calibration=c).save(tmp_path)
    back = AnswerSettings.load(tmp_path)
    assert back.calibration is not None and back.calibration.threshold == 0.42
    f = synthetic(1, seed=7)[0][0]
    assert back.calibration.probability(f) == pytest.approx(c.probability(f), abs=1e-5)
    data = json.loads((tmp_path / "settings.json").read_text())
    data["calibration"]["names"][0] = "no-such-feature"
    (tmp_path / "settings.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="unknown calibration feature"):
        AnswerSettings.load(tmp_path)


def test_features_of_a_decision():
    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(2, 3, 0.3, "24 ساعة"), candidate(0, 1, 0.9, "50 ألف دولار")]
    f = cal.features(cands, [c.evidence for c in cands], q, rules_ok=True)
    assert set(f) == set(cal.FEATURES)
    assert f["p1"] == pytest.approx(cal.logit(0.9)) and f["p2"] == pytest.approx(cal.logit(0.3))
    assert f["coverage"] == 0.5 and f["type_ok"] == 1.0 and f["latin"] == 0.0
    assert f["kind_quantity"] == 1.0 and sum(v for k, v in f.items() if k.startswith("kind_")) == 1.0
    assert f["rules_ok"] == 1.0 and f["q_terms"] == len(q.content) > 0
    assert f["dense_gap"] == pytest.approx(abs(cands[0].evidence.dense - cands[1].evidence.dense))
    empty = cal.features([], [], analyze("Who founded xAI?"))
    assert empty["latin"] == 1.0 and empty["p1"] == 0.0 and empty["kind_person"] == 1.0


def test_trees_export_gives_scikit_learns_own_scores():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows, labels = synthetic()
    trees = cal.fit_trees(rows, labels, max_iter=30)
    x = [[r[n] for n in cal.FEATURES] for r in rows]
    model = HistGradientBoostingClassifier(
        monotonic_cst=[1 if n == "p1" else 0 for n in cal.FEATURES], class_weight="balanced",
        early_stopping=False, random_state=13, max_depth=3, learning_rate=0.05, max_iter=30, min_samples_leaf=20,
        l2_regularization=1.0).fit(x, labels)
    assert [trees.log_odds(r) for r in rows] == pytest.approx(list(model.decision_function(x)), abs=1e-9)


def test_trees_never_lower_the_score_as_the_reader_grows_surer():
    """The monotone constraint the reader's cascade relies on, on data where
    an unconstrained model would turn down again (answerable only in a band
    of the reader's score)."""
    rows, _ = synthetic(seed=3)
    labels = [int(0.0 < r["p1"] < 1.0) for r in rows]
    trees = cal.fit_trees(rows, labels, max_iter=60)
    rnd = random.Random(5)
    for r in rows[:50]:
        grid = sorted(rnd.uniform(-4, 4) for _ in range(12))
        scores = [trees.probability({**r, "p1": v}) for v in grid]
        assert scores == sorted(scores)


def test_trees_travel_in_settings_json_and_a_bad_tree_is_refused(tmp_path):
    rows, labels = synthetic()
    trees = replace(cal.fit_trees(rows, labels, max_iter=20), threshold=0.37)
    AnswerSettings(calibration=trees).save(tmp_path)
    back = AnswerSettings.load(tmp_path)
    assert isinstance(back.calibration, cal.Trees) and back.calibration.threshold == 0.37
    assert [back.calibration.probability(r) for r in rows[:20]] == pytest.approx(
        [trees.probability(r) for r in rows[:20]], abs=1e-6)
    data = json.loads((tmp_path / "settings.json").read_text())
    data["calibration"]["trees"][0][0][2] = 999  # a child outside the tree
    (tmp_path / "settings.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="outside its tree"):
        AnswerSettings.load(tmp_path)
    data["calibration"]["kind"] = "forest"
    (tmp_path / "settings.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="unknown calibration kind"):
        AnswerSettings.load(tmp_path)


def test_a_calibration_decides_instead_of_the_reader_threshold():
    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(0, 1, 0.9, "50 ألف دولار")]
    c = cal.fit(*synthetic())
    confident = replace(SETTINGS, calibration=replace(c, threshold=0.01))
    doubtful = replace(SETTINGS, calibration=replace(c, threshold=0.999))
    evidence = [x.evidence for x in cands]
    yes, no = decide(q, cands, confident, evidence=evidence), decide(q, cands, doubtful, evidence=evidence)
    assert yes.answer and not no.answer and yes.score == no.score  # the same calibrated score, two thresholds
    assert decide(q, cands, SETTINGS).score == 0.9  # without one: the reader's probability


def _answers_right_by_score(n, a, b, seed, threshold=0.47):
    """``n`` answered scores in [threshold, 1) and whether each was right, drawn
    with P(right) = sigmoid(a + b * logit(score))."""
    rng = random.Random(seed)
    scores, labels = [], []
    for _ in range(n):
        s = threshold + (1 - threshold) * rng.random() * 0.999
        z = a + b * math.log(s / (1 - s))
        scores.append(s)
        labels.append(int(rng.random() < 1 / (1 + math.exp(-z))))
    return scores, labels


def test_sure_threshold_finds_where_answers_turn_mostly_right():
    # right half the time where a + b * logit(s) = 0: logit(s) = 1, s = 0.731
    scores, labels = _answers_right_by_score(4000, -1.0, 1.0, seed=3)
    refused = [0.1 * i / 100 for i in range(100)]  # below the threshold: never read
    sure = cal.sure_threshold(scores + refused, labels + [1] * 100, 0.47)
    assert sure == pytest.approx(1 / (1 + math.exp(-1.0)), abs=0.03)
    assert cal.sure_threshold(scores, labels, 0.47, right=0.7) > sure  # a stricter bar marks more


@pytest.mark.parametrize("seed", range(5))
def test_sure_threshold_lies_between_the_threshold_and_one(seed):
    rng = random.Random(seed)
    scores, labels = _answers_right_by_score(300, rng.uniform(-3, 3), rng.uniform(0.1, 3), seed)
    sure = cal.sure_threshold(scores, labels, 0.47)
    assert sure is not None and 0.47 <= sure <= 1.0


def test_sure_threshold_marks_nothing_when_answers_are_mostly_right_and_gives_up_without_a_signal():
    scores, labels = _answers_right_by_score(500, 3.0, 1.0, seed=4)  # right 95 % of the time at 0.47
    assert cal.sure_threshold(scores, labels, 0.47) == 0.47
    assert cal.sure_threshold(scores[:10], labels[:10], 0.47) is None  # too few answers
    assert cal.sure_threshold(scores, [1] * len(scores), 0.47) is None  # one class
    falling, labels = _answers_right_by_score(500, 1.0, -1.0, seed=5)  # surer scores, more often wrong
    assert cal.sure_threshold(falling, labels, 0.47) is None
    assert cal.sure_threshold([0.9] * 50, [0, 1] * 25, 0.47) is None  # one score: no curve to fit
    separated = [0.5 + 0.01 * i for i in range(40)]  # wrong below 0.7, right above: still a cut-off
    assert 0.47 <= cal.sure_threshold(separated, [int(v > 0.7) for v in separated], 0.47) <= 1


def test_an_answer_below_the_sure_score_is_marked_uncertain():
    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(0, 1, 0.9, "50 ألف دولار")]
    evidence = [x.evidence for x in cands]
    c = cal.fit(*synthetic())
    score = decide(q, cands, replace(SETTINGS, calibration=replace(c, threshold=0.01)), evidence=evidence).score
    def with_sure(sure):
        return decide(q, cands, replace(SETTINGS, calibration=replace(c, threshold=0.01, sure=sure)),
                      evidence=evidence)
    assert with_sure(min(1.0, score + 0.01)).uncertain and with_sure(min(1.0, score + 0.01)).answer
    assert not with_sure(score).uncertain and not with_sure(None).uncertain
    assert not decide(q, cands, SETTINGS).uncertain  # no calibration: nothing to mark by
    refused = decide(q, cands, replace(SETTINGS, calibration=replace(c, threshold=0.999, sure=0.9995)),
                     evidence=evidence)
    assert not refused.answer and not refused.uncertain  # a refusal is not an uncertain answer


def test_an_uncertain_answer_offers_the_two_best_other_sentences_to_read():
    from rag.answer.compose import ExtractiveComposer
    from rag.answer.evidence import Evidence
    from rag.text import tokenize
    from test_decision import SENTS

    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(0, 1, 0.9, "50 ألف دولار")]  # quotes SENTS[1], which holds the span
    def ev(i, dense):
        return Evidence(SENTS[i], "عنوان", dense, 0.5, 0.5, True, tuple(tokenize(SENTS[i].text)), 0, position=i)
    evidence = [ev(1, 0.95), ev(3, 0.9), ev(0, 0.7), ev(2, 0.6)]
    c = replace(cal.fit(*synthetic()), threshold=0.01)
    unsure = decide(q, cands, replace(SETTINGS, calibration=replace(c, sure=1.0)), evidence=evidence)
    assert unsure.uncertain and [e.sentence for e in unsure.quotes] == [SENTS[1]]
    assert [e.sentence for e in unsure.related] == [SENTS[3], SENTS[0]]  # best first, never the quote
    answer = ExtractiveComposer().compose(q, unsure)
    assert [(r.n, r.text) for r in answer.related] == [(1, SENTS[3].text), (2, SENTS[0].text)]
    assert answer.to_json()["related"] and answer.uncertain
    sure = decide(q, cands, replace(SETTINGS, calibration=c), evidence=evidence)
    assert not sure.uncertain and sure.related == () and ExtractiveComposer().compose(q, sure).related == ()


def test_the_sure_score_travels_in_settings_json_and_must_not_lie_below_the_threshold(tmp_path):
    rows, labels = synthetic()
    trees = replace(cal.fit_trees(rows, labels, max_iter=5), threshold=0.4, sure=0.7)
    AnswerSettings(calibration=trees).save(tmp_path)
    assert AnswerSettings.load(tmp_path).calibration.sure == 0.7
    data = json.loads((tmp_path / "settings.json").read_text())
    del data["calibration"]["sure"]  # a calibration fitted before it existed marks nothing
    (tmp_path / "settings.json").write_text(json.dumps(data))
    assert AnswerSettings.load(tmp_path).calibration.sure is None
    data["calibration"]["sure"] = 0.3
    (tmp_path / "settings.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="sure must lie between the threshold and 1"):
        AnswerSettings.load(tmp_path)
    logistic = replace(cal.fit(rows, labels), threshold=0.5, sure=0.8)
    assert cal.from_json(logistic.to_json()).sure == 0.8


def test_out_of_fold_scores_come_from_models_that_never_saw_the_group():
    rows, labels = synthetic(200)
    groups = [f"article-{i % 20}" for i in range(len(rows))]
    seen = []

    class Spy:
        def __init__(self, train_rows):
            self.ids = {id(r) for r in train_rows}

        def probability(self, r):
            seen.append(id(r) in self.ids)
            return 0.5

    scores = cal.out_of_fold(rows, labels, groups, lambda r, y: Spy(r), folds=5)
    assert len(scores) == len(rows) and len(seen) == len(rows) and not any(seen)


def saved_decisions(tmp_path, settings: AnswerSettings, n: int = 300):
    """A decisions.jsonl of ``n`` synthetic decisions (30 articles) and a reader
    folder holding ``settings`` and an empty manifest, as `rag calibrate` reads them."""
    rows, labels = synthetic(n)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text("".join(json.dumps({"features": r, "label": y, "file": "x", "group": f"a{i % 30}"}) + "\n"
                                 for i, (r, y) in enumerate(zip(rows, labels))))
    reader = tmp_path / "reader"
    reader.mkdir()
    settings.save(reader)
    (reader / "manifest.json").write_text("{}")
    return rows, decisions, reader


def test_calibrate_fits_trees_on_saved_decisions(tmp_path):
    from rag.errors import DatasetError
    from rag.eval.calibrate import CalibrateOptions, calibrate

    _, decisions, reader = saved_decisions(tmp_path, AnswerSettings(reader_threshold=0.56))
    summary = calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions),
                        log=lambda line: None)
    back = AnswerSettings.load(reader)
    assert isinstance(back.calibration, cal.Trees) and back.calibration.threshold == summary["threshold"]
    assert back.reader_threshold == 0.56  # the rest of the settings is kept
    assert summary["balanced_accuracy"] > 0.7 and json.loads((reader / "manifest.json").read_text())["calibration"]
    assert summary["threshold_rule"].startswith("middle of the thresholds within one bootstrap standard error")
    assert 0 < summary["best_threshold"] < 1 and 0 < summary["reader_alone"]["threshold"] < 1
    assert summary["threshold"] <= summary["sure"] <= 1 and back.calibration.sure == summary["sure"]
    assert back.passage_title is False and summary["passage_title"] is False  # decisions from before titles
    # decisions collected on an index with passage titles give settings that say so
    lines = [json.loads(line) for line in decisions.read_text().splitlines()]
    decisions.write_text("".join(json.dumps({**d, "passage_title": True}) + "\n" for d in lines))
    calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions), log=lambda line: None)
    assert AnswerSettings.load(reader).passage_title is True
    decisions.write_text("".join(json.dumps({**d, "passage_title": i % 2 == 0}) + "\n" for i, d in enumerate(lines)))
    with pytest.raises(DatasetError, match="mix indexes with and without passage titles"):
        calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions),
                  log=lambda line: None)
    decisions.write_text('{"features": {}, "label": 1}\n')
    with pytest.raises(DatasetError, match="line 1"):
        calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions),
                  log=lambda line: None)


def test_rag_calibrate_prints_the_threshold_and_the_curves_best(tmp_path, capsys):
    from rag.cli import main

    _, decisions, reader = saved_decisions(tmp_path, AnswerSettings())
    assert main(["calibrate", "--reader", str(reader), "--decisions", str(decisions), "--work", str(tmp_path)]) == 0
    summary = json.loads((reader / "manifest.json").read_text())["calibration"]
    assert (f"threshold {summary['threshold']} (the curve's best {summary['best_threshold']})"
            in capsys.readouterr().out)


def test_calibrate_can_leave_features_out(tmp_path):
    from rag.errors import DatasetError
    from rag.eval.calibrate import CalibrateOptions, calibrate

    rows, decisions, reader = saved_decisions(tmp_path, AnswerSettings())
    for kind in ("trees", "logistic"):
        summary = calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions,
                                             kind=kind, without=("dense", "max_dense")), log=lambda line: None)
        layer = AnswerSettings.load(reader).calibration
        assert "dense" not in layer.names and "max_dense" not in layer.names and "p1" in layer.names
        assert summary["without"] == ["dense", "max_dense"]
        assert json.loads((reader / "manifest.json").read_text())["calibration"]["without"] == ["dense", "max_dense"]
        # it still decides from a full feature dict, reading only its own features
        assert 0.0 <= layer.probability(rows[0]) <= 1.0
    with pytest.raises(DatasetError, match="cosine"):
        calibrate(CalibrateOptions(data=(), reader=reader, work_dir=tmp_path, decisions=decisions,
                                   without=("cosine",)), log=lambda line: None)


def test_decision_features_say_whether_the_rules_would_answer():
    from rag.answer.decision import RuleDecider, decision_features

    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(0, 1, 0.9, "50 ألف دولار")]
    evidence = [c.evidence for c in cands]
    lenient = replace(SETTINGS, rules=replace(SETTINGS.rules, min_coverage=0.0, min_context_coverage=0.0,
                                              min_dense=0.0))
    strict = replace(lenient, rules=replace(lenient.rules, min_dense=2.0))  # no cosine reaches it
    assert RuleDecider(settings=lenient).supports(q, evidence[0])
    assert decision_features(q, cands, evidence, lenient)["rules_ok"] == 1.0
    assert decision_features(q, cands, evidence, strict)["rules_ok"] == 0.0


def test_calibrate_holds_out_the_articles_the_reader_held_out(tmp_path):
    """Without --seed, calibration takes the reader's own training seed from its
    manifest: another seed would count articles it trained on as held out."""
    from rag.eval.training_data import trained_seed as _trained_seed

    (tmp_path / "manifest.json").write_text('{"seed": 14}')
    assert _trained_seed(tmp_path) == 14
    assert _trained_seed(tmp_path / "missing") == 13  # the loader reports a missing reader itself
    # trained on with --init and another seed: the init's held-out articles, recorded apart
    (tmp_path / "manifest.json").write_text('{"seed": 14, "held_out_seed": 13}')
    assert _trained_seed(tmp_path) == 13


def test_calibrate_on_a_single_held_out_article_says_what_to_do(tmp_path):
    """A maintainer's small file may hold out one article: asking its questions
    without their article needs another, so the error names the fix (before
    any question is asked) rather than an evaluation's own message."""
    import shutil

    from conftest import ROOT
    from rag.errors import DatasetError
    from rag.eval.calibrate import CalibrateOptions, calibrate

    reader = tmp_path / "reader"
    shutil.copytree(ROOT / "rag" / "models" / "reader", reader)
    mini2 = ROOT / "tests" / "fixtures" / "mini-squad2.json"  # three articles, one held out with seed 13
    with pytest.raises(DatasetError, match=r"mini-squad2\.json: 1 held-out article\(s\).*add --every-article"):
        calibrate(CalibrateOptions(data=(mini2,), reader=reader, work_dir=tmp_path / "work", seed=13),
                  log=lambda line: None)
    assert AnswerSettings.load(reader) == AnswerSettings.load(ROOT / "rag" / "models" / "reader")  # untouched


def test_near_misses_cut_the_answer_sentence_and_keep_every_other_offset(tmp_path):
    from rag.eval.calibrate import near_miss_file

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
