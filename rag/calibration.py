"""A calibration layer over the reader: one logistic regression that turns
the reader's outputs and the retrieval's own signals into the probability
that a question should be answered.

The reader alone reads each window in isolation; the features beside it say
how much of the question the best passage covers, how close it is in the
embedding space and whether it holds the kind of thing asked for (the
signals the hand-set rules used, rag/decision.py ``RuleDecider``). Issue 10
suggested the layer; EVALUATION.md has what it changes.

It is fitted by ``rag calibrate`` on held-out questions of the *training*
files (never on an evaluation set) and stored in the reader's
``settings.json``. Pure functions apart from ``fit``'s numpy arithmetic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

# The order of the features in a stored calibration. A new feature means a
# new name here and a refit; a stored calibration names its own features.
FEATURES = (
    "p1",  # the best window's reader probability
    "p2",  # the second best window's (0 without one)
    "p_span",  # the best window's span confidence
    "coverage",  # of the question's terms, in the quoted sentence
    "context_coverage",  # ... in the sentence, its neighbours and the title
    "dense",  # cosine of question and quoted sentence
    "type_ok",  # the sentence holds the kind of thing asked for
    "max_coverage",  # the best coverage among all candidate sentences
    "max_dense",  # the best cosine among all candidate sentences
    "latin",  # the question is written in Latin script
)


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    names: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float  # answer when the calibrated probability reaches it
    mean: tuple[float, ...]  # standardization, fitted with the weights
    scale: tuple[float, ...]

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * (features[n] - m) / s
                            for n, w, m, s in zip(self.names, self.weights, self.mean, self.scale))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        return {"names": list(self.names), "weights": [round(w, 6) for w in self.weights],
                "bias": round(self.bias, 6), "threshold": self.threshold,
                "mean": [round(v, 6) for v in self.mean], "scale": [round(v, 6) for v in self.scale]}

    @classmethod
    def from_json(cls, data: Mapping) -> "Calibration":
        names = tuple(data["names"])
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown calibration feature(s): {', '.join(sorted(unknown))}")
        c = cls(names, tuple(map(float, data["weights"])), float(data["bias"]), float(data["threshold"]),
                tuple(map(float, data["mean"])), tuple(map(float, data["scale"])))
        if not len(c.names) == len(c.weights) == len(c.mean) == len(c.scale):
            raise ValueError("calibration: names, weights, mean and scale differ in length")
        return c


def features(candidates: Sequence, evidence: Sequence, latin: bool) -> dict[str, float]:
    """The features of one decision: ``candidates`` are the reader's windows
    (rag/decision.py ``Candidate``, any order), ``evidence`` every candidate
    sentence the retrieval gave."""
    ranked = sorted(candidates, key=lambda c: c.p, reverse=True)
    f = dict.fromkeys(FEATURES, 0.0)
    f["latin"] = float(latin)
    if evidence:
        f["max_coverage"] = max(e.coverage for e in evidence)
        f["max_dense"] = max(e.dense for e in evidence)
    if ranked:
        best = ranked[0]
        e = best.evidence
        f.update(p1=logit(best.p), p2=logit(ranked[1].p) if len(ranked) > 1 else logit(0.0),
                 p_span=logit(best.reading.p_span), coverage=e.coverage, context_coverage=e.context_coverage,
                 dense=e.dense, type_ok=float(e.type_ok))
    return f


def fit(rows: Sequence[Mapping[str, float]], labels: Sequence[int], names: Sequence[str] = FEATURES,
        l2: float = 1.0, iterations: int = 50) -> Calibration:
    """Logistic regression by Newton's method on standardized features, with
    an L2 penalty; classes weighted equally (answerable questions are
    rarer than refusals in the held-out data). The threshold is left at 0.5
    (``choose_threshold`` sets it)."""
    x = np.array([[r[n] for n in names] for r in rows], dtype=float)
    y = np.asarray(labels, dtype=float)
    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs both answerable and unanswerable examples")
    mean = x.mean(0)
    scale = x.std(0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (sw * (p - y)) + penalty * w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(tuple(names), tuple(w[:-1].tolist()), float(w[-1]), 0.5, tuple(mean.tolist()),
                       tuple(scale.tolist()))


def choose_threshold(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float, float]:
    """The threshold maximizing balanced accuracy (mean of the answer rate on
    answerable and the refusal rate on the rest); returns it with both
    rates. Ties go to the threshold nearest 0.5."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]

    def rates(t: float) -> tuple[float, float]:
        return sum(s >= t for s in pos) / max(1, len(pos)), sum(s < t for s in neg) / max(1, len(neg))

    grid = [round(v, 2) for v in np.linspace(0.02, 0.98, 97)]
    best = max(grid, key=lambda t: (sum(rates(t)), -abs(t - 0.5)))
    return (best, *rates(best))
