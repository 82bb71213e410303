"""The decision to answer or refuse, as a value.

A ``Decision`` says whether to answer, why (a reason code), with what score,
which sentences to quote and where the short answer is. Two deciders make
one from the same evidence:

* ``ReaderDecider`` (the default): the trained reader (rag/answer/reader.py) reads
  the best candidate windows; the best window's probability against the
  calibrated threshold decides, and its span is the short answer;
* ``RuleDecider``: the earlier hand-set thresholds over lexical coverage and
  cosine, kept for comparison (``SANAD_READER=rules``).

``decide`` is a pure function of the readings, so evaluation can move the
threshold without reading again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol, Sequence

from .calibration import features
from .evidence import Evidence, SentenceTable
from .forms import balanced, contradicts, shown
from .grounding import TermSet, redundant
from .question import FRAME_STEMS, Question
from .reader import Reading, window_of
from ..ingest.sentences import Sentence
from .settings import AnswerSettings, Thresholds
from .transliteration import respell
from ..text import tokenize

# Reason codes. An answer's is ANSWERED; a refusal's says why.
ANSWERED = "answered"
EMPTY = "empty_question"
NOT_A_QUESTION = "not_a_question"  # a request (a poem, "ignore your instructions")
UNCLEAR = "unclear"  # nothing to look for ("ومتى حدث ذلك؟" with no earlier turn)
NO_EVIDENCE = "no_evidence"  # nothing retrieved
NOT_SUPPORTED = "not_supported"  # read, and no passage answers it
REASONS = (ANSWERED, EMPTY, NOT_A_QUESTION, UNCLEAR, NO_EVIDENCE, NOT_SUPPORTED)
# Questions that want a sentence, not a phrase: no short answer (issue 10).
SENTENCE_KINDS = ("reason", "manner")
# Questions that want a name, a place, a date or an amount: a short answer of theirs must say one.
NAMED_KINDS = ("person", "place", "time", "quantity")


@dataclass(frozen=True)
class Candidate:
    """A window the reader read: sentences ``first..last`` of one source
    around the candidate sentence ``evidence``."""

    evidence: Evidence
    sentences: tuple[Sentence, ...]  # the window's sentences, in text order
    text: str  # the source text from the first sentence's start to the last's end
    start: int  # offset of ``text`` in the source
    reading: Reading
    # False when the short answer has a form the question rules out (rag/answer/forms.py):
    # then the window does not answer, whatever the reader's probability
    form_ok: bool = True

    @property
    def p(self) -> float:
        return self.reading.p_answer if self.form_ok else 0.0

    @property
    def span(self) -> tuple[int, int]:
        """The short answer's offsets in the source."""
        return self.start + self.reading.start, self.start + self.reading.end

    def sentence_at(self, offset: int) -> Sentence:
        """The window's sentence holding ``offset`` (or the nearest before it)."""
        best = self.sentences[0]
        for s in self.sentences:
            if s.start <= offset:
                best = s
        return best


@dataclass(frozen=True)
class Decision:
    answer: bool
    reason: str  # one of REASONS
    score: float  # what decided: the best window's probability (reader) or evidence score (rules)
    quotes: tuple[Evidence, ...] = ()  # sentences to quote, best first (as evidence of their source)
    short: tuple[str, int, int] | None = None  # (source id, start, end) of the short answer
    candidates: tuple[Candidate, ...] = ()  # what the reader read, best first
    related: tuple[Evidence, ...] = ()  # when refusing, or answering unsure: the closest other passages, for reading
    decider: str = "reader"
    uncertain: bool = False  # answered, but scored below the calibration's ``sure`` (``is_uncertain``)


class Decider(Protocol):
    name: str

    def decide(self, question: Question, evidence: Sequence[Evidence], table: SentenceTable) -> Decision: ...


def refuse(reason: str, score: float = 0.0, related: Sequence[Evidence] = (), decider: str = "reader",
           candidates: Sequence[Candidate] = ()) -> Decision:
    return Decision(False, reason, score, related=tuple(related), decider=decider, candidates=tuple(candidates))


# -------------------------------------------------------------------- reader
def windows_for(table: SentenceTable, evidence: Sequence[Evidence], n: int) -> list[tuple[Evidence, int, int]]:
    """The first ``n`` distinct windows around the best-scoring candidate
    sentences: (evidence, first sentence, last sentence), as positions in
    the index's sentence list. A sentence already inside a chosen window is
    not read again (its answer can be found in that window)."""
    sentences = table.index.sentences
    covered: set[int] = set()
    out = []
    for e in sorted(evidence, key=lambda e: e.score, reverse=True):
        i = e.position
        if i in covered:
            continue
        lo, hi = table.source_range(i)
        spans = [(s.start, s.end) for s in sentences[lo:hi]]
        f, last = window_of(spans, i - lo)
        out.append((e, lo + f, lo + last))
        covered.update(range(lo + f, lo + last + 1))
        if len(out) == n:
            break
    return out


class ReaderDecider:
    name = "reader"

    def __init__(self, reader, settings: AnswerSettings):
        self.reader = reader
        self.settings = settings

    def read(self, question: Question, evidence: Sequence[Evidence], table: SentenceTable,
             picks: Sequence[tuple[Evidence, int, int]] | None = None) -> list[Candidate]:
        """Read ``picks`` (default: every window ``windows_for`` gives)."""
        index = table.index
        if picks is None:
            picks = windows_for(table, evidence, self.settings.windows)
        texts, meta = [], []
        for e, f, last in picks:
            sents = tuple(index.sentences[f:last + 1])
            src = index.sources[sents[0].source_id].text
            start, end = sents[0].start, sents[-1].end
            texts.append(src[start:end])
            meta.append((e, sents, start))
        # each window is read with the question spelled as it spells names (transliteration.respell)
        asked = [respell(question.text, t) for t in texts]
        read: dict[int, Reading] = {}
        for q in dict.fromkeys(asked):  # one batch per spelling; nearly always one
            rows = [i for i, a in enumerate(asked) if a == q]
            read.update(zip(rows, self.reader.read(q, [texts[i] for i in rows])))
        out = []
        for i, ((e, sents, start), text) in enumerate(zip(meta, texts)):
            r = read[i]
            fit = of_form(question, text, r, self.settings.min_span) if self.settings.form_check else r
            out.append(Candidate(e, sents, text, start, fit or r, form_ok=fit is not None))
        return out

    def decide(self, question: Question, evidence: Sequence[Evidence], table: SentenceTable) -> Decision:
        """A cascade: the first ``first_windows`` windows, and the rest only
        if those do not reach the threshold. Without a calibration, reading
        them all would never turn an answer into a refusal or back; it could
        only quote a later window that scores higher, or add a second quote.
        (So an evaluation's refusal curve is exact below the threshold and a
        lower bound of the answer rate above it.)"""
        picks = windows_for(table, evidence, self.settings.windows)
        first = max(1, self.settings.first_windows)
        candidates = self.read(question, evidence, table, picks[:first])
        if len(picks) > first:
            score, t = confidence(question, candidates, self.settings, evidence)
            if score < t:
                candidates += self.read(question, evidence, table, picks[first:])
        return decide(question, candidates, self.settings, evidence=evidence)


def of_form(question: Question, text: str, r: Reading, min_span: float) -> Reading | None:
    """``r`` with a short answer of a form its question allows
    (rag/answer/forms.py): its best span, else the most likely of its
    alternatives that reaches ``min_span``; None when there is none, and
    then the window does not answer. Asked "أين ولد محمد حسني مبارك؟", a
    window that holds the birthplace can give the birth date first."""
    def fits(lo: int, hi: int) -> bool:
        if contradicts(question, text[lo:hi], text[hi:hi + 40]):
            return False
        # a name, place, date or amount that the question (or the turn it follows) already
        # says answers nothing: "كم مليون دولار ضخ ماسك…؟" is not answered by "ضخ ملايين الدولارات"
        return not (hi > lo and question.kind in NAMED_KINDS and echoes(question, text[lo:hi]))

    if fits(r.start, r.end):
        return r
    for lo, hi, p in r.alternatives:
        if p < min_span:
            break
        if fits(lo, hi):
            return replace(r, start=lo, end=hi, p_span=p)
    return None


def confidence(question: Question, candidates: Sequence[Candidate], settings: AnswerSettings,
               evidence: Sequence[Evidence] = ()) -> tuple[float, float]:
    """(score, threshold) that decide: the calibrated probability and its
    threshold when the settings carry a calibration (rag/answer/calibration.py),
    else the best window's reader probability and the reader threshold."""
    cal = settings.calibration
    score = (max((c.p for c in candidates), default=0.0) if cal is None
             else cal.probability(decision_features(question, candidates, evidence, settings)))
    return score, answer_threshold(settings)


def answer_threshold(settings: AnswerSettings) -> float:
    """The score ``confidence`` must reach for an answer."""
    return settings.calibration.threshold if settings.calibration is not None else settings.reader_threshold


def decision_features(question: Question, candidates: Sequence[Candidate], evidence: Sequence[Evidence],
                      settings: AnswerSettings) -> dict[str, float]:
    """What the calibration layer reads (rag/answer/calibration.py ``features``)."""
    rules = RuleDecider(settings=settings)
    return features(candidates, evidence, question, any(rules.supports(question, e) for e in evidence))


def decide(question: Question, candidates: Sequence[Candidate], settings: AnswerSettings,
           threshold: float | None = None, evidence: Sequence[Evidence] = ()) -> Decision:
    """Answer when the confidence reaches the threshold (``confidence``), from
    the best window: quote the sentence holding its short answer, and a
    second window's if it passes the reader threshold too, is close to the
    first and says something else. Every quoted sentence lies in a window
    the reader judged to answer the question."""
    ranked = sorted(candidates, key=lambda c: c.p, reverse=True)
    if not ranked:
        return refuse(NO_EVIDENCE)
    score, t = confidence(question, ranked, settings, evidence)
    t = t if threshold is None else threshold
    best = ranked[0]
    related = tuple(c.evidence for c in ranked)
    if score < t or not best.form_ok:  # the calibration layer reads more than p; a wrong form still refuses
        return refuse(NOT_SUPPORTED, score, related, candidates=ranked)
    lo, hi = best.span
    has_span = hi > lo
    sentence = best.sentence_at(lo) if has_span else best.evidence.sentence
    quotes = [replace(best.evidence, sentence=sentence)]
    for c in ranked[1:]:
        if len(quotes) >= 2 or c.p < settings.reader_threshold or c.p < best.p - settings.second_margin:
            break
        s = c.sentence_at(c.span[0])
        if any(q.sentence.source_id == s.source_id and q.sentence.start == s.start for q in quotes):
            continue
        if redundant(c.evidence.terms, quotes[0].terms):
            continue
        quotes.append(replace(c.evidence, sentence=s))
    short = None
    if (has_span and question.kind not in SENTENCE_KINDS and best.reading.p_span >= settings.min_span
            and sentence.start <= lo and hi <= sentence.end and (hi - lo) < len(sentence.text)
            and not echoes(question, best.text[best.reading.start:best.reading.end])):
        # the form checks above read the span as the reader gave it ("عام 2026" is a year)
        a, b = shown(best.text[best.reading.start:best.reading.end], amount=question.kind == "quantity")
        a, b = balanced(sentence.text, lo + a - sentence.start, lo + b - sentence.start)
        if b - a < len(sentence.text):
            short = (sentence.source_id, sentence.start + a, sentence.start + b)
    uncertain = is_uncertain(score, settings)
    return Decision(True, ANSWERED, score, tuple(quotes), short, tuple(ranked), uncertain=uncertain,
                    related=others(evidence, quotes) if uncertain else ())


def others(evidence: Sequence[Evidence], quotes: Sequence[Evidence], k: int = 2) -> tuple[Evidence, ...]:
    """The ``k`` best-scoring candidate sentences that no quote overlaps: what an
    answer marked uncertain offers to read beside its quote. Of reader v9's
    uncertain answers that miss the gold, the first two hold it 59 % of the time
    on ARCD test, 65 % on TyDi dev and 44 % on MLQA dev (EVALUATION.md,
    "Uncertain answers")."""
    out: list[Evidence] = []
    for e in sorted(evidence, key=lambda e: e.score, reverse=True):
        if len(out) == k:
            break
        if not any(_same_span(e, q) for q in (*quotes, *out)):
            out.append(e)
    return tuple(out)


def is_uncertain(score: float, settings: AnswerSettings) -> bool:
    """Whether an answer with this calibrated ``score`` is one the user should
    check: fewer than half of the calibration's answers scored like it were
    right (rag/answer/calibration.py ``sure_threshold``). On reader v9's runs such
    answers held a gold answer 19 to 41 % of the time on the public sets, the
    others 46 to 80 % (EVALUATION.md, "Uncertain answers")."""
    cal = settings.calibration
    return cal is not None and cal.sure is not None and score < cal.sure


def echoes(question: Question, span: str) -> bool:
    """Whether a short answer says nothing the question (and the turn a
    follow-up leans on, ``question.context``) does not: every content word
    of it is one of theirs, or it has none. Asked "في أي شهر من 2018 استقال
    ماسك؟", "عام 2018" is no answer to lead with (development set, reader v4);
    the quote that holds it still shows unless the question wants a name,
    place, date or amount (``of_form``)."""
    words = [t for t in tokenize(span) if t not in FRAME_STEMS]
    asked = TermSet.of(tokenize(f"{question.text} {question.context}"))
    return all(asked.has(t) for t in words)


# --------------------------------------------------------------------- rules
class RuleDecider:
    """The hand-set gates of the first version: coverage, context coverage,
    cosine and the kind of answer, calibrated on the development set."""

    name = "rules"

    def __init__(self, thresholds: Thresholds | None = None, settings: AnswerSettings | None = None):
        self.settings = settings or AnswerSettings()
        self.t = thresholds or self.settings.rules

    def supports(self, question: Question, e: Evidence) -> bool:
        min_dense = self.t.min_dense_latin if question.latin else self.t.min_dense
        min_ctx = self.t.min_context_coverage_latin if question.latin else self.t.min_context_coverage
        return (e.type_ok and e.coverage >= (0 if question.latin else self.t.min_coverage)
                and e.context_coverage >= min_ctx and e.dense >= min_dense)

    def decide(self, question: Question, evidence: Sequence[Evidence], table: SentenceTable | None = None
               ) -> Decision:
        ranked = sorted(evidence, key=lambda e: e.score, reverse=True)
        supported = [e for e in ranked if self.supports(question, e)]
        if not supported:
            reason = NOT_SUPPORTED if ranked else NO_EVIDENCE
            return refuse(reason, ranked[0].score if ranked else 0.0, ranked, decider=self.name)
        chosen = [supported[0]]
        for e in supported[1:]:
            if len(chosen) >= self.t.max_sentences or e.score < chosen[0].score - self.t.second_margin:
                break
            if any(redundant(e.terms, c.terms) or _same_span(e, c) for c in chosen):
                continue
            chosen.append(e)
        first = chosen[0]
        nxt = first.continuation
        if nxt is not None and len(chosen) == 1 and (
                first.novelty < 0.3 or (question.kind == "what" and _defines(nxt.text))):
            # it only names what was asked about; what it is follows ("... شبكة
            # Orbital AI. وهي مراكز بيانات ...")
            chosen.append(replace(first, sentence=nxt))
        return Decision(True, ANSWERED, first.score, tuple(chosen), decider=self.name)


_DEFINES = re.compile(r"^\W*(?:وهي|وهو|وهم|وهذا|وهذه|أي|اي|هي|هو)\s")


def _defines(text: str) -> bool:
    return bool(_DEFINES.match(text))


def _same_span(a: Evidence, b: Evidence) -> bool:
    x, y = a.sentence, b.sentence
    return x.source_id == y.source_id and x.start < y.end and y.start < x.end
