"""Evaluation metrics: pure functions over rankings, answers and refusals.

Answer matching follows the SQuAD v1.1 evaluation script (Rajpurkar et al.,
2016): normalize, then exact containment or token-overlap F1, the best over
the gold answers. Our normalization is the Arabic one used for matching
everywhere in Sanad (rag/text.py), plus punctuation removal.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from ..text import normalize

_PUNCT = re.compile(r"[^\w\s]|_")


def answer_tokens(text: str) -> list[str]:
    return _PUNCT.sub(" ", normalize(text)).split()


def contains_gold(text: str, golds: Iterable[str]) -> bool:
    """Some gold answer appears in ``text`` after normalization. Substring,
    not whole tokens: Arabic attaches prepositions and the article to words
    (gold "القاهرة" inside "بالقاهرة" counts), as in tests/test_dev_set.py."""
    hay = " ".join(answer_tokens(text))
    return any(toks and " ".join(toks) in hay for toks in map(answer_tokens, golds))


def exact_match(text: str, golds: Iterable[str]) -> bool:
    """``text`` equals a gold answer after normalization (SQuAD EM)."""
    pred = answer_tokens(text)
    return bool(pred) and any(pred == answer_tokens(g) for g in golds)


def token_f1(text: str, golds: Iterable[str]) -> float:
    """The best token-overlap F1 between ``text`` and a gold answer."""
    pred = answer_tokens(text)
    best = 0.0
    for gold in golds:
        ref = answer_tokens(gold)
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            p, r = common / len(pred), common / len(ref)
            best = max(best, 2 * p * r / (p + r))
    return best


def dedupe(ids: Iterable[str]) -> list[str]:
    """A ranking of chunks' sources -> a ranking of sources (first place kept)."""
    return list(dict.fromkeys(ids))


def rank_of(ranking: Sequence[str], gold: Iterable[str]) -> int | None:
    """1-based rank of the first gold item in ``ranking``, or None."""
    gold = set(gold)
    return next((i for i, x in enumerate(ranking, 1) if x in gold), None)


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / max(1, len(ranks))


def mrr(ranks: Sequence[int | None]) -> float:
    return sum(1 / r for r in ranks if r) / max(1, len(ranks))


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def refusal(refused_absent: Sequence[bool], refused_present: Sequence[bool]) -> dict[str, float | None]:
    """Refusal as a detector of "the sources do not hold the answer".

    Positives are questions whose article is absent. Precision: of all
    refusals, the share that were right; recall = refused_when_absent.
    A share with no questions under it is None, not 0: a run without
    absent-article questions (a small --limit) measured no refusals."""
    false_refusals = sum(refused_present) / len(refused_present) if refused_present else None
    if not refused_absent:
        return {"refused_when_absent": None, "false_refusals": false_refusals,
                "precision": None, "recall": None, "f1": None}
    tp, fp = sum(refused_absent), sum(refused_present)
    recall = tp / len(refused_absent)
    precision = tp / (tp + fp) if tp + fp else 0.0
    return {"refused_when_absent": recall, "false_refusals": false_refusals,
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def refused_at(absent_scores: Sequence[float | None], normal_scores: Sequence[float | None],
               max_false: float) -> float | None:
    """The refusal curve read at a fixed cost: the largest share of the
    questions that should be refused (``absent_scores``) refused at any
    threshold that refuses at most ``max_false`` of the answerable ones
    (``normal_scores``). A question is refused when its decision score is
    under the threshold; a score of None (refused before any score) always
    is. None when no threshold keeps false refusals that low.

    Issue 10's target is a point (refused >= 0.95 at false refusals <= 0.05);
    this says whether a reader's curve reaches it at any threshold, not only
    at its calibrated one, so two readers can be compared at equal cost.
    """
    def sorted_finite(scores):
        return np.sort(np.array([s for s in scores if s is not None], dtype=float))

    absent, normal = sorted_finite(absent_scores), sorted_finite(normal_scores)
    n_absent, n_normal = len(absent_scores), len(normal_scores)
    if not n_absent or not n_normal:
        return None
    # every threshold that changes either share: each score (refusing those below it), and above them all
    cuts = np.unique(np.concatenate([absent, normal, [np.inf]]))
    false = (n_normal - len(normal) + np.searchsorted(normal, cuts, side="left")) / n_normal
    refused = (n_absent - len(absent) + np.searchsorted(absent, cuts, side="left")) / n_absent
    ok = false <= max_false + 1e-12
    return float(refused[ok].max()) if ok.any() else None
