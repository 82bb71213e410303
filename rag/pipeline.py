"""The library facade: what the app and the CLI use.

    sanad = Sanad(Config.load())
    sanad.ensure_index()                       # build it if missing or stale
    answer = sanad.ask("كم بلغت رسوم الحجز؟")
    answer = sanad.ask("ومتى حدث ذلك؟", history=["كم بلغت رسوم الحجز؟"])
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Sequence

from . import index as ix
from .answer import (EMPTY_QUESTION, NOT_A_QUESTION, UNCLEAR, Answer, Citation, Composer, ExtractiveComposer,
                     surrounding)
from .config import Config
from .embedding import SentenceTransformerEmbedder
from .errors import IndexCorrupt, IndexMissing, IndexStale
from .evidence import SentenceTable, gather
from .question import analyze, clean
from .retrieval import Hit, search

INHERITED_WEIGHT = 0.5  # a follow-up's own words count double those it inherits
MAX_QUESTION_CHARS = 1000  # longer input is cut here (Answer.truncated says so); the model sees 512 tokens anyway


class Sanad:
    def __init__(self, config: Config | None = None, embedder=None, composer: Composer | None = None):
        self.config = config or Config.load()
        self.embedder = embedder or SentenceTransformerEmbedder.from_config(self.config)
        self.composer = composer or ExtractiveComposer()
        self._index = None
        self._table = None
        self._lock = threading.Lock()

    @classmethod
    def over(cls, index: ix.Index, config: Config | None = None, embedder=None,
             composer: Composer | None = None) -> "Sanad":
        """A Sanad answering from an already loaded ``index`` (for example one
        with some sources left out: Index.without)."""
        sanad = cls(config, embedder, composer)
        sanad._index, sanad._table = index, SentenceTable(index)
        return sanad

    @property
    def index(self) -> ix.Index:
        with self._lock:
            if self._index is None:
                self._index = ix.load(self.config)
                self._table = SentenceTable(self._index)
            return self._index

    def ensure_index(self, progress=None) -> ix.BuildReport | None:
        """Load the index; build it first if it is missing, stale or damaged.
        Returns the build report when a build happened."""
        try:
            _ = self.index
            return None
        except (IndexMissing, IndexStale, IndexCorrupt):
            report = ix.build(self.config, self.embedder, progress=progress)
            with self._lock:
                self._index = ix.load(self.config)
                self._table = SentenceTable(self._index)
            return report

    def warm_up(self) -> None:
        """Load the index and the model and run one question, so that the
        first real question is answered at full speed."""
        self.ask("ما هو الخبر؟")

    def context(self, citation: Citation, width: int = 240) -> tuple[str, str, str]:
        """(before, cited, after) text around a citation, from its source."""
        return surrounding(self.index.sources[citation.source].text, citation.start, citation.end, width)

    def ask(self, question: str, history: Sequence[str] = ()) -> Answer:
        """Answer from the sources, or refuse. ``history`` holds the earlier
        questions of the conversation, oldest first; a follow-up ("ومتى حدث
        ذلك؟") is retrieved together with the question it follows."""
        t0 = time.perf_counter()
        question, truncated = _bounded(question or "")
        answer = self._ask(question, [_bounded(str(h))[0] for h in history][-6:], t0)
        return replace(answer, truncated=truncated) if truncated else answer

    def retrieve(self, question: str, history: Sequence[str] = (), k: int = 10) -> list[Hit]:
        """The chunks ask() would read, best first (hybrid retrieval with
        diversity), without composing an answer. For evaluation."""
        question, _ = _bounded(question or "")
        if not question:
            return []
        query = self._query(analyze(question), [_bounded(str(h))[0] for h in history][-6:])[0]
        return search(self.index, query, self.embedder.embed_query(query), k=k)

    def _query(self, q, history: list[str]) -> tuple[str, dict[str, float]]:
        """The text to retrieve with and the weighted terms to look for."""
        query, terms = q.text, dict.fromkeys(q.content, 1.0)
        if q.follow_up and history:
            # Retrieve with the question it follows; what it asks is its own.
            query = f"{history[-1]} {q.text}"
            for t in analyze(str(history[-1])).content:
                terms.setdefault(t, INHERITED_WEIGHT)
        return query, terms

    def _ask(self, question: str, history: list[str], t0: float) -> Answer:
        if not question:
            return Answer("", EMPTY_QUESTION, True)
        q = analyze(question)
        if q.request:
            return Answer(question, NOT_A_QUESTION, True, timings_ms={"total": _ms(t0)})
        index, table = self.index, self._table

        query, terms = self._query(q, history)
        if q.latin:  # English words cannot be found in Arabic text; names can
            terms = {table.aliases.get(t, t): w for t, w in terms.items()}
            terms = {t: w for t, w in terms.items() if t in table.vocabulary}
        if not terms:  # nothing to look for: "ومتى حدث ذلك؟" with no earlier turn
            return Answer(question, UNCLEAR, True, timings_ms={"total": _ms(t0)})

        t1 = time.perf_counter()
        vector = self.embedder.embed_query(query)
        t2 = time.perf_counter()
        hits = search(index, query, vector, k=6)
        evidence = gather(table, q, terms, vector, [h.position for h in hits])
        t3 = time.perf_counter()
        answer = self.composer.compose(q, evidence)
        t4 = time.perf_counter()
        timings = {"embed": (t2 - t1) * 1000, "retrieve": (t3 - t2) * 1000, "compose": (t4 - t3) * 1000,
                   "total": (t4 - t0) * 1000}
        return replace(answer, timings_ms=timings)


def _bounded(text: str) -> tuple[str, bool]:
    """(cleaned text cut to MAX_QUESTION_CHARS, whether it was cut). At most
    8x the limit is even looked at, so work is bounded however long the input."""
    cleaned = clean(text[: 8 * MAX_QUESTION_CHARS])
    return cleaned[:MAX_QUESTION_CHARS], len(cleaned) > MAX_QUESTION_CHARS or len(text) > 8 * MAX_QUESTION_CHARS


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
