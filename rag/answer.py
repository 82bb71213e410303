"""Answers and how they are composed from evidence.

The default composer is extractive: it quotes the best-supporting sentences
verbatim, each followed by its citation marker, or refuses. A generative
composer (an LLM behind an OpenAI-compatible endpoint) can implement the same
``Composer`` protocol later, checking every sentence it writes against the
passage it cites; retrieval does not change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from .evidence import Evidence
from .grounding import redundant
from .question import Question

_DEFINES = re.compile(r"^\W*(?:وهي|وهو|وهم|وهذا|وهذه|أي|اي|هي|هو)\s")
NOT_IN_SOURCES = "لا تتضمن المقالات المتاحة إجابة عن هذا السؤال."
NOT_A_QUESTION = "أجيب فقط عن الأسئلة المتعلقة بالمقالات المتاحة، مع ذكر مصادرها."
EMPTY_QUESTION = "السؤال فارغ. اكتب سؤالًا عن المقالات المتاحة."
UNCLEAR = "لم يتضح لي موضوع السؤال في المقالات المتاحة. أعد صياغته مع ذكر ما تسأل عنه."


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    text: str  # exactly source.text[start:end]
    start: int
    end: int

    def to_json(self) -> dict:
        return {"n": self.n, "source": self.source, "title": self.title, "text": self.text,
                "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Citation, ...] = ()  # closest passages when refused: reading, not an answer
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    truncated: bool = False  # the question was longer than the limit and was cut

    def to_json(self) -> dict:
        return {"question": self.question, "answer": self.answer, "refused": self.refused,
                "citations": [c.to_json() for c in self.citations],
                "related": [c.to_json() for c in self.related],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "truncated": self.truncated}


@dataclass(frozen=True)
class Thresholds:
    """When evidence counts as support. Calibrated on the tune split of
    eval/dev.jsonl (benchmarks/calibrate.py; EVALUATION.md)."""

    min_coverage: float = 0.2  # in the sentence itself
    min_context_coverage: float = 0.65  # in the sentence, its neighbours and the title
    min_dense: float = 0.82
    min_dense_latin: float = 0.82  # English questions
    min_context_coverage_latin: float = 0.3  # ... and only their names can be matched
    max_sentences: int = 2
    second_margin: float = 0.08  # a second sentence must score within this of the first


class Composer(Protocol):
    def compose(self, question: Question, evidence: Sequence[Evidence]) -> Answer: ...


class ExtractiveComposer:
    def __init__(self, thresholds: Thresholds | None = None):
        self.t = thresholds or Thresholds()

    def supports(self, question: Question, e: Evidence) -> bool:
        min_dense = self.t.min_dense_latin if question.latin else self.t.min_dense
        min_ctx = self.t.min_context_coverage_latin if question.latin else self.t.min_context_coverage
        return (e.type_ok and e.coverage >= (0 if question.latin else self.t.min_coverage)
                and e.context_coverage >= min_ctx and e.dense >= min_dense)

    def compose(self, question: Question, evidence: Sequence[Evidence]) -> Answer:
        ranked = sorted(evidence, key=lambda e: e.score, reverse=True)
        supported = [e for e in ranked if self.supports(question, e)]
        if not supported:
            return refusal(question.text, NOT_IN_SOURCES, ranked)
        chosen = [supported[0]]
        for e in supported[1:]:
            if len(chosen) >= self.t.max_sentences or e.score < chosen[0].score - self.t.second_margin:
                break
            if any(redundant(e.terms, c.terms) or _same_span(e, c) for c in chosen):
                continue
            chosen.append(e)
        spans = [(e.sentence, e.title) for e in chosen]
        first = chosen[0]
        nxt = first.continuation
        if nxt is not None and len(chosen) == 1 and (
                first.novelty < 0.3 or (question.kind == "what" and _DEFINES.match(nxt.text))):
            # it only names what was asked about; what it is follows ("... شبكة
            # Orbital AI. وهي مراكز بيانات ...")
            spans.append((nxt, first.title))
        citations = tuple(Citation(n, s.source_id, title, s.text, s.start, s.end)
                          for n, (s, title) in enumerate(spans, 1))
        text = " ".join(f"{c.text} [{c.n}]" for c in citations)
        return Answer(question.text, text, False, citations)


def surrounding(text: str, start: int, end: int, width: int = 240) -> tuple[str, str, str]:
    """(before, cited, after): the cited span with up to ``width`` characters
    of its own paragraph on each side, cut at word boundaries, for showing a
    citation in context."""
    para_start = text.rfind("\n", 0, start) + 1
    para_end = text.find("\n", end)
    para_end = len(text) if para_end < 0 else para_end
    lo = max(para_start, start - width)
    hi = min(para_end, end + width)
    if lo > para_start:
        lo = text.find(" ", lo, start) + 1 or lo
    if hi < para_end:
        cut = text.rfind(" ", end, hi)
        hi = cut if cut > 0 else hi
    before = ("… " if lo > para_start else "") + text[lo:start]
    after = text[end:hi] + (" …" if hi < para_end else "")
    return before, text[start:end], after


def _cite(e: Evidence, n: int) -> Citation:
    s = e.sentence
    return Citation(n, s.source_id, e.title, s.text, s.start, s.end)


def _same_span(a: Evidence, b: Evidence) -> bool:
    x, y = a.sentence, b.sentence
    return x.source_id == y.source_id and x.start < y.end and y.start < x.end


def refusal(question: str, message: str, related: Sequence[Evidence] = (), k: int = 3) -> Answer:
    seen, picks = set(), []
    for e in related:
        if e.sentence.source_id not in seen:  # one passage per article
            seen.add(e.sentence.source_id)
            picks.append(_cite(e, len(picks) + 1))
        if len(picks) == k:
            break
    return Answer(question, message, True, (), tuple(picks))
