import numpy as np

from rag.index.retrieval import mmr, rrf


def test_rrf_rewards_agreement():
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert [i for i, _ in fused][:2] == [1, 3]
    assert {i for i, _ in fused} == {1, 2, 3, 4}


def test_rrf_of_nothing():
    assert rrf([[], []]) == []


def test_mmr_prefers_a_different_passage_over_a_near_duplicate():
    e = np.eye(4, dtype=np.float32)
    v = np.vstack([e[0], e[0] * 0.999 + e[1] * 0.04, e[2], e[3]])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    candidates = [(0, 1.0), (1, 0.95), (2, 0.9), (3, 0.1)]
    assert mmr(candidates, v, k=2, lam=0.7) == [0, 2]
    assert mmr(candidates, v, k=2, lam=1.0) == [0, 1]  # relevance only
    assert mmr([], v, 3) == []
