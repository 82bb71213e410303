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


def gather_terms(pairs: np.ndarray, ends: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (document, vocabulary id, count) triples of store ``rows``, the
    documents numbered in the order of ``rows`` (rag/index/store.py keeps each
    chunk's pairs between the previous row's end and its own)."""
    rows = np.asarray(rows, np.int64)
    ends = np.asarray(ends, np.int64)
    stop = ends[rows] if len(rows) else np.zeros(0, np.int64)
    start = np.where(rows > 0, ends[np.maximum(rows - 1, 0)], 0) if len(rows) else np.zeros(0, np.int64)
    lengths = stop - start
    doc = np.repeat(np.arange(len(rows)), lengths)
    # positions start[d] .. stop[d] of every document d, in one vector
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) if len(rows) else doc
    at = np.arange(int(lengths.sum())) + offsets
    taken = np.asarray(pairs[at] if len(at) else np.zeros((0, 2), np.int32))
    return doc.astype(np.int32), taken[:, 0].astype(np.int32), taken[:, 1].astype(np.float32)


def from_terms(doc: np.ndarray, term: np.ndarray, tf: np.ndarray, n_docs: int, vocab: list[str],
               k1: float = K1, b: float = B) -> BM25:
    """The index ``BM25.fit`` builds, from term counts instead of token
    lists: the same scores, computed over whole arrays (a rebuild over 1M
    stored chunks is seconds, not the minutes of tokenizing them again)."""
    if n_docs == 0:
        return BM25(None, 0)
    import bm25s
    import scipy.sparse as sp

    # one column per vocabulary entry, in the store's order: no sort of the 28M terms of 100,000
    # articles (np.unique took 6.7 s); a term that only dead rows use gets an empty column
    col = np.asarray(term)
    width = max(len(vocab), 1)
    doc_len = np.bincount(doc, weights=tf, minlength=n_docs)
    avg = float(doc_len.mean()) or 1.0
    df = np.bincount(col, minlength=width).astype(np.float64)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5))  # Lucene's, as bm25s method="lucene"
    score = idf[col] * tf / (tf + k1 * (1 - b + b * doc_len[doc] / avg))
    matrix = sp.csc_matrix((score.astype(np.float32), (doc, col)), shape=(n_docs, width), dtype=np.float32)
    model = bm25s.BM25(k1=k1, b=b, method="lucene")
    model.scores = {"data": matrix.data, "indices": matrix.indices.astype(np.int32),
                    "indptr": matrix.indptr, "num_docs": n_docs}
    vocab_dict = {token: j for j, token in enumerate(vocab)}
    vocab_dict.setdefault("", width)  # as bm25s adds when it indexes tokens
    model.vocab_dict = vocab_dict
    model.unique_token_ids_set = set(vocab_dict.values())
    model.nonoccurrence_array = None  # only BM25L and BM25+ use it
    return BM25(model, n_docs)
