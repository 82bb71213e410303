"""The calibration layer (rag/calibration.py): fitting, storing and deciding
with it, on hand-made features; no model."""
import json
import random
from dataclasses import replace

import pytest

from rag import calibration as cal
from rag.decision import decide
from rag.question import analyze
from rag.settings import AnswerSettings
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
    f = cal.features(cands, [c.evidence for c in cands], q.latin)
    assert set(f) == set(cal.FEATURES)
    assert f["p1"] == pytest.approx(cal.logit(0.9)) and f["p2"] == pytest.approx(cal.logit(0.3))
    assert f["coverage"] == 0.5 and f["type_ok"] == 1.0 and f["latin"] == 0.0
    empty = cal.features([], [], True)
    assert empty["latin"] == 1.0 and empty["p1"] == 0.0


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
