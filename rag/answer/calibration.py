"""A calibration layer over the reader: a model that turns the reader's
outputs and the retrieval's own signals into the probability that a
question should be answered. Two kinds: a logistic regression
(``Calibration``, the first) and gradient-boosted trees (``Trees``, fitted
with scikit-learn, stored as plain JSON and evaluated here without it).

The reader alone reads each window in isolation; the features beside it say
how much of the question the best passage covers, how close it is in the
embedding space and whether it holds the kind of thing asked for (the
signals the hand-set rules used, rag/answer/decision.py ``RuleDecider``). Issue 10
suggested the layer; EVALUATION.md has what it changes.

It is fitted by ``rag calibrate`` on held-out questions of the *training*
files (never on an evaluation set) and stored in the reader's
``settings.json``. Pure functions apart from ``fit``'s numpy arithmetic.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

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
    # since the second calibration (gradient-boosted trees):
    "dense_gap",  # best cosine minus the second best: one sentence stands out, or none does
    "rules_ok",  # the hand-set rules (rag/answer/decision.py RuleDecider) would answer
    "q_terms",  # the question's content words
    "source_coverage",  # coverage of the question by the best window's whole article
    "max_source_coverage",  # ... the best among the candidates' articles
) + tuple(f"kind_{k}" for k in ("quantity", "time", "person", "place", "reason", "manner", "yesno", "what"))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _known(names) -> tuple[str, ...]:
    """A stored calibration's feature names, all of which must be ours."""
    names = tuple(names)
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown calibration feature(s): {', '.join(sorted(unknown))}")
    return names


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
    sure: float | None = None  # an answer scored below it is marked uncertain (``sure_threshold``)

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * (features[n] - m) / s
                            for n, w, m, s in zip(self.names, self.weights, self.mean, self.scale))
        return _sigmoid(z)

    def to_json(self) -> dict:
        return {"names": list(self.names), "weights": [round(w, 6) for w in self.weights],
                "bias": round(self.bias, 6), "threshold": self.threshold,
                "mean": [round(v, 6) for v in self.mean], "scale": [round(v, 6) for v in self.scale],
                **_sure_json(self.sure)}

    @classmethod
    def from_json(cls, data: Mapping) -> "Calibration":
        names = _known(data["names"])
        c = cls(names, tuple(map(float, data["weights"])), float(data["bias"]), float(data["threshold"]),
                tuple(map(float, data["mean"])), tuple(map(float, data["scale"])), _sure_of(data))
        if not len(c.names) == len(c.weights) == len(c.mean) == len(c.scale):
            raise ValueError("calibration: names, weights, mean and scale differ in length")
        return c


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted regression trees over the features: the log-odds of
    answering is ``baseline`` plus one leaf value per tree. A node is
    (feature, threshold, left, right, value); a leaf has feature -1. A
    feature value ``<=`` the threshold goes left (scikit-learn's rule)."""

    names: tuple[str, ...]
    baseline: float
    trees: tuple[tuple[tuple[int, float, int, int, float], ...], ...]
    threshold: float = 0.5
    sure: float | None = None  # an answer scored below it is marked uncertain (``sure_threshold``)

    def log_odds(self, features: Mapping[str, float]) -> float:
        x = [features[n] for n in self.names]
        z = self.baseline
        for nodes in self.trees:
            i = 0
            while nodes[i][0] >= 0:
                f, t, left, right, _ = nodes[i]
                i = left if x[f] <= t else right
            z += nodes[i][4]
        return z

    def probability(self, features: Mapping[str, float]) -> float:
        return _sigmoid(self.log_odds(features))

    def to_json(self) -> dict:
        return {"kind": "trees", "names": list(self.names), "baseline": round(self.baseline, 8),
                "threshold": self.threshold, **_sure_json(self.sure),
                "trees": [[[f, round(t, 8), left, right, round(v, 8)] for f, t, left, right, v in tree]
                          for tree in self.trees]}

    @classmethod
    def from_json(cls, data: Mapping) -> "Trees":
        names = _known(data["names"])
        trees = tuple(tuple((int(f), float(t), int(left), int(right), float(v)) for f, t, left, right, v in tree)
                      for tree in data["trees"])
        for tree in trees:
            for f, _, left, right, _ in tree:
                if f >= len(names) or (f >= 0 and not (0 < left < len(tree) and 0 < right < len(tree))):
                    raise ValueError("calibration: a tree node points outside its tree or features")
        return cls(names, float(data["baseline"]), trees, float(data["threshold"]), _sure_of(data))


def _sure_json(sure: float | None) -> dict:
    return {} if sure is None else {"sure": sure}


def _sure_of(data: Mapping) -> float | None:
    """A stored calibration's ``sure``: absent in those fitted before it existed."""
    sure = data.get("sure")
    if sure is None:
        return None
    sure = float(sure)
    if not (0.0 <= sure <= 1.0) or sure < float(data["threshold"]):
        raise ValueError("calibration: sure must lie between the threshold and 1")
    return sure


def from_json(data: Mapping) -> "Calibration | Trees":
    """A stored calibration of either kind."""
    kind = data.get("kind", "logistic")
    if kind == "trees":
        return Trees.from_json(data)
    if kind == "logistic":
        return Calibration.from_json(data)
    raise ValueError(f"unknown calibration kind {kind!r}")


def fit_trees(rows: Sequence[Mapping[str, float]], labels: Sequence[int], names: Sequence[str] = FEATURES,
              seed: int = 13, **params) -> Trees:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier),
    classes weighted equally, and the log-odds held non-decreasing in the
    reader's best probability ``p1``: a surer reader never makes a refusal
    likelier. (The reader's cascade, rag/answer/decision.py ``ReaderDecider``, reads
    more windows only when the first do not answer; more windows can only
    raise ``p1``.)"""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = np.array([[r[n] for n in names] for r in rows], dtype=float)
    y = np.asarray(labels, dtype=int)
    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs both answerable and unanswerable examples")
    settings = {"max_depth": 3, "learning_rate": 0.05, "max_iter": 200, "min_samples_leaf": 20,
                "l2_regularization": 1.0, **params}
    model = HistGradientBoostingClassifier(
        monotonic_cst=[1 if n == "p1" else 0 for n in names], class_weight="balanced", early_stopping=False,
        random_state=seed, **settings).fit(x, y)
    trees = []
    for (predictor,) in model._predictors:  # one tree per iteration (binary); see the test that checks the export
        nodes = predictor.nodes
        trees.append(tuple(
            (-1 if nodes["is_leaf"][i] else int(nodes["feature_idx"][i]), float(nodes["num_threshold"][i]),
             int(nodes["left"][i]), int(nodes["right"][i]), float(nodes["value"][i]))
            for i in range(len(nodes))))
    return Trees(tuple(names), float(np.ravel(model._baseline_prediction)[0]), tuple(trees))


def features(candidates: Sequence, evidence: Sequence, question, rules_ok: bool = False) -> dict[str, float]:
    """The features of one decision: ``candidates`` are the reader's windows
    (rag/answer/decision.py ``Candidate``, any order), ``evidence`` every candidate
    sentence the retrieval gave, ``question`` the analyzed question
    (rag/answer/question.py), ``rules_ok`` whether the hand-set rules would answer."""
    ranked = sorted(candidates, key=lambda c: c.p, reverse=True)
    f = dict.fromkeys(FEATURES, 0.0)
    f["latin"] = float(question.latin)
    f["rules_ok"] = float(rules_ok)
    f["q_terms"] = float(len(question.content))
    if f"kind_{question.kind}" in f:
        f[f"kind_{question.kind}"] = 1.0
    if evidence:
        dense = sorted((e.dense for e in evidence), reverse=True)
        f["max_coverage"] = max(e.coverage for e in evidence)
        f["max_dense"] = dense[0]
        f["dense_gap"] = dense[0] - dense[1] if len(dense) > 1 else 0.0
        f["max_source_coverage"] = max(e.source_coverage for e in evidence)
    if ranked:
        best = ranked[0]
        e = best.evidence
        f.update(p1=logit(best.p), p2=logit(ranked[1].p) if len(ranked) > 1 else logit(0.0),
                 p_span=logit(best.reading.p_span), coverage=e.coverage, context_coverage=e.context_coverage,
                 dense=e.dense, type_ok=float(e.type_ok), source_coverage=e.source_coverage)
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


def out_of_fold(rows: Sequence[Mapping[str, float]], labels: Sequence[int], groups: Sequence[str],
                fit_model: Callable, folds: int = 5) -> list[float]:
    """Each decision's probability from a model fitted without its group (an
    article): the honest scores to choose a threshold on. In-sample scores
    of boosted trees are overconfident."""
    fold = [int(hashlib.sha1(g.encode()).hexdigest(), 16) % folds for g in groups]
    out = [0.0] * len(rows)
    for f in range(folds):
        train = [i for i in range(len(rows)) if fold[i] != f]
        test = [i for i in range(len(rows)) if fold[i] == f]
        if not test:
            continue
        model = fit_model([rows[i] for i in train], [labels[i] for i in train])
        for i in test:
            out[i] = model.probability(rows[i])
    return out


GRID = tuple(round(float(v), 2) for v in np.linspace(0.02, 0.98, 97))  # the thresholds tried
# ``choose_threshold``'s rule with groups, as `rag calibrate`'s summary records it
THRESHOLD_RULE = ("middle of the thresholds within one bootstrap standard error (by article) "
                  "of the best balanced accuracy")


def balanced_curve(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Balanced accuracy (mean of the answer rate on answerable decisions and
    the refusal rate on the rest) at each threshold of ``GRID``."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    answered = np.array([(pos >= t).mean() if len(pos) else 0.0 for t in GRID])
    refused = np.array([(neg < t).mean() if len(neg) else 0.0 for t in GRID])
    return (answered + refused) / 2


def _best(curve: np.ndarray) -> int:
    # ties go to the threshold nearest 0.5
    return max(range(len(GRID)), key=lambda i: (curve[i], -abs(GRID[i] - 0.5)))


def choose_threshold(scores: Sequence[float], labels: Sequence[int], groups: Sequence[str] | None = None,
                     rounds: int = 200, seed: int = 13) -> tuple[float, float, float]:
    """The threshold for answering; returns it with the answer rate on
    answerable decisions and the refusal rate on the rest.

    Without ``groups``: the threshold maximizing balanced accuracy. With them
    (the decisions' articles): the middle of the run of thresholds around
    that best whose balanced accuracy lies within one standard error of the
    best's, the error from ``rounds`` bootstrap draws of whole groups. The
    curve is flat near its top: on reader v16's calibration every threshold
    from 0.40 to 0.60 was within 0.004 of the best, whose standard error was
    0.008, and two draws of one training put their argmaxes 0.09 apart (0.50
    and 0.41), where this rule puts them at 0.49 and 0.485 (EVALUATION.md, "A
    threshold from the flat top of the curve"). The one-standard-error rule
    is CART's (Breiman et al. 1984; Hastie et al., ESL 7.10)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    curve = balanced_curve(s, y)
    i0 = lo = hi = _best(curve)
    if groups is not None:
        members: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        names = sorted(members)
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(rounds):
            pick = np.concatenate([members[names[k]] for k in rng.integers(len(names), size=len(names))])
            draws.append(balanced_curve(s[pick], y[pick])[i0])
        floor = curve[i0] - float(np.std(draws))
        while lo > 0 and curve[lo - 1] >= floor:
            lo -= 1
        while hi < len(GRID) - 1 and curve[hi + 1] >= floor:
            hi += 1
    best = round((GRID[lo] + GRID[hi]) / 2, 3)
    pos, neg = s[y], s[~y]
    return best, float((pos >= best).mean()) if len(pos) else 0.0, float((neg < best).mean()) if len(neg) else 0.0


def sure_threshold(scores: Sequence[float], labels: Sequence[int], threshold: float,
                   right: float = 0.5) -> float | None:
    """The score below which an answer is marked uncertain: where, among the
    decisions that answer (``scores`` at or above ``threshold``, out of fold),
    the share that should answer (``labels``) falls below ``right``. That share
    is fitted as a logistic curve in the score's logit (Platt 1999), smooth
    where binned shares are noisy: on reader v9's 4,586 calibration decisions
    it crosses one half at 0.746, and 300 bootstrap draws put the crossing
    between 0.72 and 0.77 (5th to 95th percentile), where isotonic steps
    ranged 0.65 to 0.79 (EVALUATION.md, "Uncertain answers"). ``threshold``
    when the curve is already above ``right`` there (nothing is marked); None
    when it cannot be fitted (too few answers, or no rise with the score)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=float)
    keep = s >= threshold
    s, y = np.clip(s[keep], 1e-4, 1 - 1e-4), y[keep]
    x = np.log(s / (1 - s))
    if len(s) < 20 or y.min() == y.max() or np.ptp(x) < 1e-6:
        return None
    a = b = 0.0
    for _ in range(50):  # Newton's method on the log-likelihood of y ~ sigmoid(a + b x)
        p = 1 / (1 + np.exp(-np.clip(a + b * x, -30, 30)))
        w = p * (1 - p) + 1e-9
        grad = np.array([np.sum(y - p), np.sum((y - p) * x)])
        hess = np.array([[w.sum(), (w * x).sum()], [(w * x).sum(), (w * x * x).sum()]])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return None
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-8:
            break
    if not b > 0 or not np.isfinite([a, b]).all():
        return None
    cross = float(_sigmoid((math.log(right / (1 - right)) - a) / b))
    return round(min(1.0, max(threshold, cross)), 3)
