"""The systems Sanad is measured against, each answering with its top passage.

* ``bm25``: BM25 alone over Sanad's own chunks (the same tokenizer).
* ``dense``: cosine similarity alone, the same model and FAISS index.
* ``langchain``: what a user of LangChain would write: the same text splitter
  settings, ``langchain_community.vectorstores.FAISS`` with the same
  embeddings (wrapped as a LangChain ``Embeddings``), the top passage returned
  as the answer.

None of them refuses; each returns a ranking and the top passage, which is
also its one citation.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

DEPTH = 30  # chunks retrieved per question; rankings of sources are cut from these


@dataclass(frozen=True)
class Cited:
    source: str
    text: str
    start: int = -1  # -1: the system gives no offsets (LangChain documents)
    end: int = -1


@dataclass(frozen=True)
class Response:
    """What one system did with one question."""

    ranking: tuple[str, ...]  # source ids, best first, without repeats
    answer: str
    refused: bool
    citations: tuple[Cited, ...]
    latency_ms: float
    top_score: float | None = None  # the system's score for its top passage
    short: str | None = None  # the short answer, for systems that give one
    reason: str = ""  # why it refused, for systems that say
    uncertain: bool = False  # answered but marked uncertain (Sanad's ``Answer.uncertain``)
    related: tuple[str, ...] = ()  # passages offered beside a refusal or an uncertain answer


def _from_chunks(chunks: Sequence[tuple[str, str, int, int]], scores: Sequence[float], t0: float) -> Response:
    """A response from ranked (source, text, start, end) chunks."""
    ms = (time.perf_counter() - t0) * 1000
    ranking = tuple(dict.fromkeys(c[0] for c in chunks))
    if not chunks:
        return Response((), "", False, (), ms)
    top = chunks[0]
    return Response(ranking, top[1], False, (Cited(*top),), ms, float(scores[0]))


class BM25Baseline:
    name = "bm25"

    def __init__(self, index):
        self.index = index

    def respond(self, question: str) -> Response:
        t0 = time.perf_counter()
        hits = self.index.search_bm25(question, DEPTH)
        chunks = [self.index.chunks[i] for i, _ in hits]
        return _from_chunks([(c.source_id, c.text, c.start, c.end) for c in chunks], [s for _, s in hits], t0)


class DenseBaseline:
    name = "dense"

    def __init__(self, index, embedder):
        self.index, self.embedder = index, embedder

    def respond(self, question: str) -> Response:
        t0 = time.perf_counter()
        hits = self.index.search_dense(self.embedder.embed_query(question), DEPTH)
        chunks = [self.index.chunks[i] for i, _ in hits]
        return _from_chunks([(c.source_id, c.text, c.start, c.end) for c in chunks], [s for _, s in hits], t0)


def langchain_embeddings(embedder):
    """Our embedder as a LangChain ``Embeddings`` (same model, same prompts)."""
    from langchain_core.embeddings import Embeddings

    class SanadEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_passages(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text).tolist()

    return SanadEmbeddings()


def _langchain_faiss():
    """LangChain's FAISS store. It lives in langchain-community, which
    LangChain is winding down (langchain-community#674, 2026-05) with no
    successor for FAISS yet; it is still what a LangChain user writes, so it
    is the baseline, and its notice is not repeated on every run."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"langchain_community.*")
        warnings.filterwarnings("ignore", message=r".*langchain-community.*")
        from langchain_community.vectorstores import FAISS
    return FAISS


class LangChainBaseline:
    name = "langchain"

    def __init__(self, store):
        self.store = store

    @classmethod
    def build(cls, sources, settings, embedder, cache_dir: Path | None = None, model_id: str = "",
              progress=None) -> "LangChainBaseline":
        """Split, embed and store the sources the LangChain way. The store is
        saved under ``cache_dir`` keyed by its inputs, so a rerun loads it
        instead of embedding everything again."""
        from ..ingest.chunking import text_splitter

        FAISS = _langchain_faiss()

        embeddings = langchain_embeddings(embedder)
        key = hashlib.sha256(json.dumps([model_id, settings.to_json(), sorted(s.sha256 for s in sources)])
                             .encode()).hexdigest()[:16]
        folder = Path(cache_dir) / f"langchain-{key}" if cache_dir else None
        if folder and (folder / "index.faiss").exists():
            # our own file, written below; LangChain keeps the docstore as a pickle
            return cls(FAISS.load_local(str(folder), embeddings, allow_dangerous_deserialization=True))
        docs = text_splitter(settings).create_documents([s.text for s in sources],
                                                        [{"source": s.id} for s in sources])
        store = None
        step = 64
        for lo in range(0, len(docs), step):  # in steps, so that progress can be shown
            part = docs[lo:lo + step]
            if store is None:
                store = FAISS.from_documents(part, embeddings)
            else:
                store.add_documents(part)
            if progress:
                progress(min(lo + step, len(docs)), len(docs))
        if folder and store is not None:
            store.save_local(str(folder))
        return cls(store)

    def respond(self, question: str) -> Response:
        t0 = time.perf_counter()
        found = self.store.similarity_search_with_score(question, k=DEPTH)
        # LangChain's FAISS store ranks by L2 distance (lower is better); on
        # unit vectors that is the cosine order.
        return _from_chunks([(d.metadata["source"], d.page_content, -1, -1) for d, _ in found],
                            [-s for _, s in found], t0)
