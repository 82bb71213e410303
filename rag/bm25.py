"""Okapi BM25 over our own tokens (rag/text.py: normalized, stemmed Arabic),
on the sparse matrices of ``bm25s`` (Lù, "BM25S: Orders of magnitude faster
lexical search via eager sparse scoring", 2024).

bm25s computes every document's score for every vocabulary term when the
index is built and stores them as one CSC matrix; a query adds the columns
of its terms. The files load memory-mapped, so a large index costs no time or
memory to open. Scoring is Lucene's variant with k1=1.2, b=0.75 (Robertson &
Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009):
the same ranking as the earlier hand-written postings, whose scores were
these times (k1 + 1).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

K1 = 1.2
B = 0.75


class BM25:
    def __init__(self, model, size: int):
        self._model = model  # a bm25s.BM25, or None for an empty index
        self.size = size

    @classmethod
    def fit(cls, docs: list[list[str]], k1: float = K1, b: float = B) -> "BM25":
        """An index over documents given as token lists."""
        if not docs:
            return cls(None, 0)
        import bm25s

        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        model.index(docs, show_progress=False)
        return cls(model, len(docs))

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (terms the
        documents never use score nothing)."""
        if self._model is None or not query:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(list(dict.fromkeys(query))), dtype=np.float32)

    def document_frequencies(self) -> dict[str, int]:
        """How many documents use each term (the vocabulary, with its df)."""
        if self._model is None:
            return {}
        indptr = np.asarray(self._model.scores["indptr"])
        return {t: int(indptr[j + 1] - indptr[j]) for t, j in self._model.vocab_dict.items()
                if t and j + 1 < len(indptr) and indptr[j + 1] > indptr[j]}

    def save(self, folder: Path) -> list[Path]:
        """Write the index into ``folder``; returns the files written."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "size").write_text(str(self.size), encoding="utf-8")
        if self._model is not None:
            self._model.save(str(folder), show_progress=False)
        return sorted(folder.iterdir())

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> "BM25":
        folder = Path(folder)
        size = int((folder / "size").read_text(encoding="utf-8"))
        if size == 0:
            return cls(None, 0)
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        model = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False)
        docs = int(model.scores["num_docs"])
        if docs != size:
            raise ValueError(f"BM25 index holds {docs} documents, its size file says {size}")
        return cls(model, size)
