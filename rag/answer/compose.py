"""Answers and how they are composed from evidence.

The default composer is extractive: it quotes the best-supporting sentences
verbatim, each followed by its citation marker, or refuses. The generative
composer (rag/answer/generative.py: an LLM behind an OpenAI-compatible endpoint)
implements the same ``Composer`` protocol and checks every sentence it writes
against the passages it cites; retrieval does not change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

from . import decision as d
from .decision import Decision
from .evidence import Evidence
from .question import Question

NOT_IN_SOURCES = "لا تتضمن المقالات المتاحة إجابة عن هذا السؤال."
NOT_A_QUESTION = "أجيب فقط عن الأسئلة المتعلقة بالمقالات المتاحة، مع ذكر مصادرها."
EMPTY_QUESTION = "السؤال فارغ. اكتب سؤالًا عن المقالات المتاحة."
UNCLEAR = "لم يتضح لي موضوع السؤال في المقالات المتاحة. أعد صياغته مع ذكر ما تسأل عنه."
# Shown above an answer marked uncertain (``Answer.uncertain``): the user should check the quote.
UNCERTAIN = "إجابة غير مؤكدة: هذا أقرب ما وجدته في المقالات، وقد لا يجيب عن سؤالك تمامًا. تحقّق من النص المقتبس."
# The Arabic line a user sees for each refusal reason (rag/answer/decision.py).
MESSAGES = {d.EMPTY: EMPTY_QUESTION, d.NOT_A_QUESTION: NOT_A_QUESTION, d.UNCLEAR: UNCLEAR,
            d.NOT_SUPPORTED: NOT_IN_SOURCES, d.NO_EVIDENCE: NOT_IN_SOURCES}


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
class ShortAnswer:
    """The phrase that answers ("ملياري دولار"), inside citation ``n``:
    ``text == source.text[start:end]``."""

    n: int
    text: str
    start: int
    end: int

    def to_json(self) -> dict:
        return {"n": self.n, "text": self.text, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Statement:
    """One sentence of an answer and the citations that support it."""

    text: str
    citations: tuple[int, ...]

    def to_json(self) -> dict:
        return {"text": self.text, "citations": list(self.citations)}


EXTRACTIVE, LLM = "extractive", "llm"  # who wrote an answer


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    related: tuple[Citation, ...] = ()  # closest passages when refused or uncertain: reading, not the answer
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    truncated: bool = False  # the question was longer than the limit and was cut
    short_answer: ShortAnswer | None = None  # None for why/how questions or when no span is confident
    reason: str = d.ANSWERED  # why it was refused (rag/answer/decision.py REASONS); "answered" otherwise
    generation: str = ""  # the index generation it was answered from (its citations' offsets refer to it)
    composer: str = EXTRACTIVE  # EXTRACTIVE (quotes) or LLM (verified generated sentences)
    statements: tuple[Statement, ...] = ()  # the answer's sentences, each with its supporting citations
    uncertain: bool = False  # answered, but answers scored like it were mostly wrong: shown with UNCERTAIN

    def to_json(self) -> dict:
        return {"question": self.question, "answer": self.answer, "refused": self.refused,
                "reason": self.reason, "composer": self.composer,
                "statements": [s.to_json() for s in self.statements],
                "short_answer": self.short_answer.to_json() if self.short_answer else None,
                "citations": [c.to_json() for c in self.citations],
                "related": [c.to_json() for c in self.related],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
                "truncated": self.truncated, "uncertain": self.uncertain}


class Composer(Protocol):
    def compose(self, question: Question, decision: Decision) -> Answer: ...


class ExtractiveComposer:
    """Quotes the decision's sentences verbatim, each followed by ``[n]``; the
    short answer, when there is one, leads."""

    def compose(self, question: Question, decision: Decision) -> Answer:
        if not decision.answer:
            return refusal(question.text, MESSAGES.get(decision.reason, NOT_IN_SOURCES), decision.related,
                           reason=decision.reason)
        citations = tuple(Citation(n, e.sentence.source_id, e.title, e.sentence.text, e.sentence.start,
                                   e.sentence.end) for n, e in enumerate(decision.quotes, 1))
        short = None
        if decision.short:
            sid, lo, hi = decision.short
            holder = next((c for c in citations if c.source == sid and c.start <= lo and hi <= c.end), None)
            if holder is not None:
                short = ShortAnswer(holder.n, holder.text[lo - holder.start:hi - holder.start], lo, hi)
        quotes = " ".join(f"{c.text} [{c.n}]" for c in citations)
        text = f"{short.text}\n{quotes}" if short else quotes
        return Answer(question.text, text, False, citations, short_answer=short, reason=d.ANSWERED,
                      statements=tuple(Statement(c.text, (c.n,)) for c in citations), uncertain=decision.uncertain,
                      related=offered(decision))


def context_bounds(text: str, start: int, end: int, width: int = 240) -> tuple[int, int, bool, bool]:
    """(lo, hi, cut_before, cut_after): the span ``start..end`` widened by up
    to ``width`` characters of its own paragraph on each side, cut at word
    boundaries, and whether the paragraph goes on beyond each end."""
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
    return lo, hi, lo > para_start, hi < para_end


def surrounding(text: str, start: int, end: int, width: int = 240) -> tuple[str, str, str]:
    """(before, cited, after): the cited span in context (``context_bounds``),
    with an ellipsis where the paragraph was cut."""
    lo, hi, cut_before, cut_after = context_bounds(text, start, end, width)
    return ("… " if cut_before else "") + text[lo:start], text[start:end], text[end:hi] + (" …" if cut_after else "")


def _cite(e: Evidence, n: int) -> Citation:
    s = e.sentence
    return Citation(n, s.source_id, e.title, s.text, s.start, s.end)


def offered(decision: Decision) -> tuple[Citation, ...]:
    """The passages an answer marked uncertain offers beside its quotes (``Decision.related``), numbered from 1."""
    return tuple(_cite(e, n) for n, e in enumerate(decision.related, 1))


def refusal(question: str, message: str, related: Sequence[Evidence] = (), k: int = 3,
            reason: str = d.NOT_SUPPORTED) -> Answer:
    seen: set[str] = set()
    picks: list[Citation] = []
    for e in related:
        if e.sentence.source_id not in seen:  # one passage per article
            seen.add(e.sentence.source_id)
            picks.append(_cite(e, len(picks) + 1))
        if len(picks) == k:
            break
    return Answer(question, message, True, (), tuple(picks), reason=reason)
