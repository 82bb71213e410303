"""Hybrid retrieval: dense (FAISS) and BM25 rankings fused by reciprocal rank.

RRF with k=60 follows Cormack, Clarke & Büttcher, "Reciprocal Rank Fusion
outperforms Condorcet and individual Rank Learning Methods" (SIGIR 2009).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .chunking import Chunk

RRF_K = 60


@dataclass(frozen=True)
class Hit:
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


def search(index, embedder, query: str, k: int = 5, depth: int = 30) -> list[Hit]:
    dense = index.search_dense(embedder.embed_query(query), depth)
    sparse = index.search_bm25(query, depth)
    dense_score, bm25_score = dict(dense), dict(sparse)
    fused = rrf([[i for i, _ in dense], [i for i, _ in sparse]])[:k]
    return [Hit(index.chunks[i], index.sources[index.chunks[i].source_id].title, s,
                dense_score.get(i), bm25_score.get(i)) for i, s in fused]
