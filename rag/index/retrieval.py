"""Hybrid retrieval: dense (FAISS) and BM25 rankings fused by reciprocal rank,
then re-ranked for diversity so that several articles can contribute.

RRF with k=60: Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion outperforms
Condorcet and individual Rank Learning Methods" (SIGIR 2009). Diversity: MMR,
Carbonell & Goldstein, "The Use of MMR, Diversity-Based Reranking" (SIGIR 1998).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..ingest.chunking import Chunk

RRF_K = 60


@dataclass(frozen=True)
class Hit:
    position: int  # row of the chunk in the index
    chunk: Chunk
    title: str
    score: float  # fused RRF score; higher is better
    dense: float | None = None  # cosine, when the dense ranking found it
    bm25: float | None = None


def rrf(rankings: Iterable[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse rankings (lists of item ids, best first) into one, best first."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def mmr(candidates: Sequence[tuple[int, float]], vectors: np.ndarray, k: int, lam: float = 0.75) -> list[int]:
    """Pick k items balancing relevance (given scores) against similarity to
    items already picked. Scores are rescaled to [0, 1] first."""
    if not candidates:
        return []
    ids = [i for i, _ in candidates]
    rel = np.array([s for _, s in candidates], dtype=np.float32)
    rel = (rel - rel.min()) / (rel.max() - rel.min() or 1.0)
    vecs = np.asarray(vectors[ids], dtype=np.float32)
    chosen: list[int] = []
    while len(chosen) < min(k, len(ids)):
        if chosen:
            redundancy = (vecs @ vecs[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(ids), np.float32)
        score = lam * rel - (1 - lam) * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return [ids[c] for c in chosen]


def search(index, query: str, query_vector: np.ndarray, k: int = 5, depth: int = 30) -> list[Hit]:
    """Top-k chunks for a (normalized-for-BM25 inside) query and its embedding."""
    dense = index.search_dense(query_vector, depth)
    sparse = index.search_bm25(query, depth)
    dense_score, bm25_score = dict(dense), dict(sparse)
    fused = rrf([[i for i, _ in dense], [i for i, _ in sparse]])[: max(k * 3, k)]
    picked = mmr(fused, index.vectors, k)
    fused_score = dict(fused)
    return [Hit(i, index.chunks[i], index.sources[index.chunks[i].source_id].title, fused_score[i],
                dense_score.get(i), bm25_score.get(i)) for i in picked]
