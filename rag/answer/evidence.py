"""From retrieved chunks to scored candidate sentences (evidence).

Candidates are the sentences inside the top fused chunks, plus the sentences
closest to the question by embedding anywhere in the corpus (a fact stated in
one sentence of a long chunk can hide from chunk-level retrieval).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Generic, Iterable, TypeVar

import numpy as np

from .grounding import TermSet, answer_type_ok, coverage, idf_weights
from .transliteration import arabic_keys, latin_keys, latin_skeletons, skeleton
from .question import Question
from ..ingest.sentences import Sentence
from ..text import tokenize


@dataclass(frozen=True)
class Evidence:
    """A candidate sentence and how well it supports an answer."""

    sentence: Sentence
    title: str
    dense: float  # cosine between question and sentence embeddings
    coverage: float  # weighted share of question terms in the sentence
    context_coverage: float  # ... in the sentence, its neighbours and the title
    type_ok: bool  # holds the kind of thing the question word wants
    terms: tuple[str, ...] = ()
    chunk_rank: int | None = None  # rank of its chunk in the fused retrieval, if any
    novelty: float = 1.0  # share of its terms that the question does not already contain
    continuation: Sentence | None = None  # the next sentence of the same article, if any
    position: int = -1  # of the sentence in the index's sentence list
    # ... of the question's terms anywhere in the sentence's article: when the article that
    # answers is not indexed, the nearest one usually lacks the question's rarer names
    source_coverage: float = 0.0

    @property
    def score(self) -> float:
        """Ranking among candidates. The weights were set by hand on the tune
        split; the thresholds deciding answer or refusal are calibrated
        (EVALUATION.md)."""
        prior = 0.05 / (1 + self.chunk_rank) if self.chunk_rank is not None else 0.0
        # A sentence that only restates the question ("Musk is building Orbital
        # AI") is no answer to "what is Orbital AI?".
        echo = 0.15 if self.novelty < 0.3 else 0.0
        return (self.dense + 0.25 * self.coverage + 0.1 * self.context_coverage + 0.05 * self.type_ok
                + prior - echo)


T = TypeVar("T")
_GLOSS = re.compile(r"([\w\u0600-\u06ff]+(?: [\w\u0600-\u06ff]+)?) \(([^()]{2,40})\)")


def _is_arabic(text: str) -> bool:
    return sum("\u0600" <= c <= "\u06ff" for c in text) > len(text) / 2


class PerItem(Generic[T]):
    """A read-only list whose items are computed when first asked for, and
    kept. A question reads the tables below for a few dozen candidate
    sentences; computing them for every sentence when the index loaded took
    minutes and gigabytes at 100,000 articles (1.1M sentences;
    benchmarks/bench_archive.py, BENCHMARKS.md)."""

    def __init__(self, n: int, item: Callable[[int], T]):
        self._n, self._item = n, item
        self._memo: dict[int, T] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> T:
        if i < 0:
            i += self._n
        try:
            return self._memo[i]
        except KeyError:
            if not 0 <= i < self._n:
                raise IndexError(i) from None
            value = self._memo[i] = self._item(i)
            return value


SOURCE_TERMS_KEPT = 2048


class SentenceTable:
    """Per-index lookups for evidence, each computed once per loaded index."""

    def __init__(self, index) -> None:
        self.index = index
        n = len(index.sentences)
        self.tokens: PerItem[tuple[str, ...]] = PerItem(n, lambda i: tuple(tokenize(index.sentences[i].text)))
        self.term_sets: PerItem[TermSet] = PerItem(n, lambda i: TermSet.of(self.tokens[i]))
        self.quotable: PerItem[bool] = PerItem(n, lambda i: _quotable(index.sentences[i].text))
        self.by_chunk: PerItem[list[int]] = PerItem(len(index.chunks), self._sentences_of_chunk)
        self._titles: dict[str, TermSet] = {}
        self._sources: dict[str, TermSet] = {}

    def source_terms(self, source_id: str) -> TermSet:
        """The words of a whole article (its sentences and title). The most
        recently used ``SOURCE_TERMS_KEPT`` are kept: in a large archive,
        keeping every article asked about would grow without end."""
        terms = self._sources.pop(source_id, None)
        if terms is None:
            # its chunks' tokens, counted when it was indexed (not tokenized again per question)
            terms = self.title_terms(source_id) | TermSet.of(self.index.source_tokens(source_id))
            if len(self._sources) >= SOURCE_TERMS_KEPT:
                del self._sources[next(iter(self._sources))]  # the least recently used
        self._sources[source_id] = terms
        return terms

    def title_terms(self, source_id: str) -> TermSet:
        if source_id not in self._titles:
            self._titles[source_id] = TermSet.of(tokenize(self.index.sources[source_id].title))
        return self._titles[source_id]

    @cached_property
    def idf(self):
        bm25 = self.index.bm25
        return idf_weights(self.document_frequencies, bm25.size)

    @cached_property
    def document_frequencies(self) -> dict[str, int]:
        return self.index.bm25.document_frequencies()

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.document_frequencies)

    def _sentences_of_chunk(self, pos: int) -> list[int]:
        """Sentences overlapping chunk ``pos`` (those of its source only)."""
        c = self.index.chunks[pos]
        lo, hi = self._source_ranges.get(c.source_id, (0, 0))
        sentences = self.index.sentences
        return [i for i in range(lo, hi) if sentences[i].start < c.end and c.start < sentences[i].end]

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Latin spellings of names the articles also write in Arabic, learned
        from the articles' own glosses: "إيلون ماسك (Elon Musk)",
        "Tesla Roadster (تيسلا رودستر)". Lets English questions match Arabic text."""
        out: dict[str, str] = {}
        for src in self.index.sources.values():
            for m in _GLOSS.finditer(src.text):
                first, second = m.group(1).split(), m.group(2).split()
                arabic, latin = (first, second) if _is_arabic(m.group(1)) else (second, first)
                arabic = arabic[-len(latin):]
                if len(arabic) != len(latin) or not all(map(_is_arabic, arabic)):
                    continue
                for a, b in zip(latin, arabic):
                    if not (a.isascii() and a.isalpha()) or a.isupper() or a[1:].isupper():
                        continue  # acronyms (AGI, IPO) are glossed by meaning, not by sound
                    ta, tb = tokenize(a), tokenize(b)
                    if len(ta) == 1 and len(tb) == 1:
                        out.setdefault(ta[0], tb[0])
        return out

    @cached_property
    def _latin_by_skeleton(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for term in self.vocabulary:
            if term.isascii():
                for key in latin_skeletons(term):
                    out.setdefault(key, []).append(term)
        return out

    def latin_spellings(self, terms: Iterable[str]) -> list[str]:
        """The articles' Latin words that sound like the Arabic ``terms``:
        إنفيديا finds Nvidia (rag/answer/transliteration.py), so retrieval looks for both.
        Only where the Latin spelling is at least as common as the Arabic one: ماسك is
        written in Arabic throughout our articles, and adding "musk" only reshuffled the
        ranking (a development-set near miss got answered from a gloss, 2026-12-02)."""
        df, by_skeleton = self.document_frequencies, self._latin_by_skeleton  # built by warm_up's question
        out = set()
        for t in terms:
            keys = arabic_keys(t)
            for v in {v for k in keys for v in by_skeleton.get(skeleton(k), ())}:
                if keys & latin_keys(v) and df.get(v, 0) >= df.get(t, 0):
                    out.add(v)
        return sorted(out)

    @cached_property
    def _source_ranges(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for i, s in enumerate(self.index.sentences):
            lo, _ = out.get(s.source_id, (i, i))
            out[s.source_id] = (lo, i + 1)
        return out

    def source_range(self, i: int) -> tuple[int, int]:
        """[lo, hi): the positions of the sentences of sentence i's source."""
        return self._source_ranges[self.index.sentences[i].source_id]

    def neighbours(self, i: int) -> tuple[int, ...]:
        s = self.index.sentences
        return tuple(j for j in (i - 1, i + 1) if 0 <= j < len(s) and s[j].source_id == s[i].source_id)



def _quotable(text: str) -> bool:
    """Worth quoting as an answer: mostly Arabic (not the reference list's
    English link lines), and not a bare heading."""
    arabic = sum("\u0600" <= c <= "\u06ff" for c in text)
    latin = sum(c.isascii() and c.isalpha() for c in text)
    heading = text[-1:] not in ".!?؟\"”»)" and len(text) < 60
    return arabic > latin and not heading


def gather(table: SentenceTable, question: Question, terms: dict[str, float], query_vector: np.ndarray,
           chunk_positions: list[int], k_dense: int = 8) -> list[Evidence]:
    """Score the candidate sentences. ``terms`` maps each content term of the
    question to its weight (terms inherited from an earlier turn weigh less)."""
    index = table.index
    if not index.sentences:
        return []
    rank_of: dict[int, int] = {}
    for rank, pos in enumerate(chunk_positions):
        for i in table.by_chunk[pos]:
            rank_of.setdefault(i, rank)
    candidates = _candidates(table, query_vector, chunk_positions, k_dense)
    sims = dict(zip(candidates, index.sentence_scores(query_vector, candidates).tolist()))
    out = []
    by_source: dict[str, float] = {}
    for i in candidates:
        if not table.quotable[i]:
            continue
        s = index.sentences[i]
        own = table.tokens[i]
        words = table.term_sets[i]
        context = words | table.title_terms(s.source_id)
        for j in table.neighbours(i):
            context = context | table.term_sets[j]
        # The sentence must cover the question's own words; a follow-up's
        # inherited words may sit in the context.
        own_terms = {t: w for t, w in terms.items() if w >= 1.0} or terms
        following = i + 1 if i + 1 < len(index.sentences) and index.sentences[i + 1].source_id == s.source_id \
            else None
        novel = [t for t in own if t not in terms]
        if s.source_id not in by_source:
            by_source[s.source_id] = coverage(terms, table.source_terms(s.source_id), table.idf)
        out.append(Evidence(
            sentence=s, title=index.sources[s.source_id].title, dense=float(sims[i]),
            coverage=coverage(own_terms, words, table.idf), context_coverage=coverage(terms, context, table.idf),
            type_ok=answer_type_ok(question.kind, s.text), terms=own, chunk_rank=rank_of.get(i),
            novelty=len(novel) / max(1, len(own)),
            continuation=index.sentences[following] if following is not None else None, position=i,
            source_coverage=by_source[s.source_id],
        ))
    return out


def _candidates(table: SentenceTable, query_vector: np.ndarray, chunk_positions: list[int], k_dense: int
                ) -> list[int]:
    """The sentences ``gather`` weighs: those of the chunks, and the ``k_dense``
    nearest the query anywhere, in index order."""
    return sorted({i for pos in chunk_positions for i in table.by_chunk[pos]}
                  | set(table.index.search_sentences(query_vector, k_dense)))


def nearest_sentences(table: SentenceTable, query_vector: np.ndarray, chunk_positions: list[int], k: int,
                      k_dense: int) -> list[str]:
    """The texts of the ``k`` quotable sentences ``gather`` would weigh that lie
    nearest the query, by their stored vectors."""
    candidates = [i for i in _candidates(table, query_vector, chunk_positions, k_dense) if table.quotable[i]]
    scores = table.index.sentence_scores(query_vector, candidates)
    return [table.index.sentences[candidates[j]].text for j in np.argsort(-scores)[:k]]
