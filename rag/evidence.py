"""From retrieved chunks to scored candidate sentences (evidence).

Candidates are the sentences inside the top fused chunks, plus the sentences
closest to the question by embedding anywhere in the corpus (a fact stated in
one sentence of a long chunk can hide from chunk-level retrieval).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .grounding import TermSet, answer_type_ok, coverage, idf_weights
from .question import Question
from .sentences import Sentence
from .text import tokenize


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


_GLOSS = re.compile(r"([\w\u0600-\u06ff]+(?: [\w\u0600-\u06ff]+)?) \(([^()]{2,40})\)")


def _is_arabic(text: str) -> bool:
    return sum("\u0600" <= c <= "\u06ff" for c in text) > len(text) / 2


class SentenceTable:
    """Per-index lookups for evidence, computed once per loaded index."""

    def __init__(self, index):
        self.index = index

    @cached_property
    def tokens(self) -> list[tuple[str, ...]]:
        return [tuple(tokenize(s.text)) for s in self.index.sentences]

    @cached_property
    def term_sets(self) -> list[TermSet]:
        return [TermSet.of(t) for t in self.tokens]

    @cached_property
    def title_terms(self) -> dict[str, TermSet]:
        return {sid: TermSet.of(tokenize(s.title)) for sid, s in self.index.sources.items()}

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

    @cached_property
    def by_chunk(self) -> list[list[int]]:
        """Sentences overlapping each chunk."""
        by_source: dict[str, list[int]] = {}
        for i, s in enumerate(self.index.sentences):
            by_source.setdefault(s.source_id, []).append(i)
        out = []
        for c in self.index.chunks:
            out.append([i for i in by_source.get(c.source_id, ())
                        if self.index.sentences[i].start < c.end and c.start < self.index.sentences[i].end])
        return out

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

    @cached_property
    def quotable(self) -> list[bool]:
        """Sentences worth quoting as an answer: mostly Arabic (not the
        reference list's English link lines), and not bare headings."""
        out = []
        for s in self.index.sentences:
            arabic = sum("\u0600" <= c <= "\u06ff" for c in s.text)
            latin = sum(c.isascii() and c.isalpha() for c in s.text)
            heading = s.text[-1:] not in ".!?؟\"”»)" and len(s.text) < 60
            out.append(arabic > latin and not heading)
        return out


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
    candidates = sorted(set(rank_of) | set(index.search_sentences(query_vector, k_dense)))
    sims = dict(zip(candidates, index.sentence_scores(query_vector, candidates).tolist()))
    out = []
    for i in candidates:
        if not table.quotable[i]:
            continue
        s = index.sentences[i]
        own = table.tokens[i]
        words = table.term_sets[i]
        context = words | table.title_terms[s.source_id]
        for j in table.neighbours(i):
            context = context | table.term_sets[j]
        # The sentence must cover the question's own words; a follow-up's
        # inherited words may sit in the context.
        own_terms = {t: w for t, w in terms.items() if w >= 1.0} or terms
        following = i + 1 if i + 1 < len(index.sentences) and index.sentences[i + 1].source_id == s.source_id \
            else None
        novel = [t for t in own if t not in terms]
        out.append(Evidence(
            sentence=s, title=index.sources[s.source_id].title, dense=float(sims[i]),
            coverage=coverage(own_terms, words, table.idf), context_coverage=coverage(terms, context, table.idf),
            type_ok=answer_type_ok(question.kind, s.text), terms=own, chunk_rank=rank_of.get(i),
            novelty=len(novel) / max(1, len(own)),
            continuation=index.sentences[following] if following is not None else None, position=i,
        ))
    return out
