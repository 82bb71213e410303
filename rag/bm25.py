"""Okapi BM25 over pre-tokenized documents, stored as plain JSON.

k1=1.2, b=0.75 are the usual defaults (Robertson & Zaragoza, "The
Probabilistic Relevance Framework: BM25 and Beyond", 2009).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BM25:
    postings: dict[str, tuple[tuple[int, int], ...]]  # term -> ((doc, tf), ...)
    doc_lengths: tuple[int, ...]
    k1: float = 1.2
    b: float = 0.75

    @classmethod
    def fit(cls, docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> "BM25":
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, tokens in enumerate(docs):
            for term, tf in Counter(tokens).items():
                postings.setdefault(term, []).append((i, tf))
        return cls({t: tuple(p) for t, p in postings.items()},
                   tuple(len(d) for d in docs), k1, b)

    @property
    def size(self) -> int:
        return len(self.doc_lengths)

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens."""
        n = self.size
        out = np.zeros(n, dtype=np.float32)
        if n == 0:
            return out
        lengths = np.asarray(self.doc_lengths, dtype=np.float32)
        avg = float(lengths.mean()) or 1.0
        for term in set(query):
            plist = self.postings.get(term)
            if not plist:
                continue
            df = len(plist)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            docs = np.fromiter((d for d, _ in plist), dtype=np.int64, count=df)
            tf = np.fromiter((f for _, f in plist), dtype=np.float32, count=df)
            norm = self.k1 * (1 - self.b + self.b * lengths[docs] / avg)
            out[docs] += idf * tf * (self.k1 + 1) / (tf + norm)
        return out

    def to_json(self) -> dict:
        return {"k1": self.k1, "b": self.b, "doc_lengths": list(self.doc_lengths),
                "postings": {t: [list(p) for p in ps] for t, ps in self.postings.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "BM25":
        return cls({t: tuple((int(d), int(f)) for d, f in ps) for t, ps in data["postings"].items()},
                   tuple(data["doc_lengths"]), float(data["k1"]), float(data["b"]))
