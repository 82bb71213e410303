"""Checking what a generative composer writes, sentence by sentence. Pure
functions, apart from the support check they are given.

An LLM's answer is split into statements, each with the passage numbers it
cites (``[2]``, ``[1، 3]``). A statement reaches the user only if

1. it cites at least one passage, and every number it cites exists;
2. every fact in it that a reader could check by eye (a number, an amount
   word such as "ملياري", a month, a Latin-script name, a name the articles
   gloss in both scripts) occurs in the passages it cites, after Arabic
   normalization (digits unified, as for matching: rag/text.py);
3. at least one cited passage supports it: the passage holds every word of
   it that the question also uses (``unasked``) and most of the words it
   adds to the question (``grounded``: share of them found in the passage,
   with the tolerance of rag/answer/grounding.py's matching), and the reader
   (rag/answer/reader.py), reading the question followed by the statement
   against the passage, does not judge the pair unrelated.

The reader was trained on questions, not statements. Given a statement alone
(2026-12-02, statements about one passage), true ones scored 0.39-0.53 and
false ones 0.24-0.45, and bare answers ("97.4 مليار دولار.", "2023.") 0.18-0.23,
so it would veto every short answer. Given the question and then the
statement it reads what it was trained on: short answers score 0.43-0.59.
It separates true from false little either way; the fact check (numbers,
names) and word coverage (true 0.88-1.0, invented details 0.29-0.6) do most
of the work, and neither sees a changed relation between words the passage
has ("who said what to whom"). The floors were set on those few examples;
the development-set run in EVALUATION.md is the measure.

What fails is dropped and logged by the composer, never shown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Collection, Sequence

from .grounding import _MONTHS, _NUMBER_WORDS, TermSet
from .transliteration import arabic_keys, latin_keys
from ..text import normalize, tokenize

MIN_GROUNDED = 0.8  # share of a statement's content words its passage must hold
FRAGMENT_TERMS = 3  # "100 مليار دولار." is a bare answer, not a sentence that says what the number is
MIN_READER = 0.35  # the reader's probability for (statement, passage) below which they are unrelated

# A citation marker: [1], [1، 3], [1, 2], [١] (\d is any script's digit; int() reads them all).
# The statement's own text is kept as written: digits are unified only to match facts.
_MARKER = re.compile(r"\[\s*\d+(?:\s*[,،]\s*\d+)*\s*\]")
_MARKERISH = re.compile(r"^[\s\[\]\d\u0660-\u0669,،]*$")  # what may still be a marker being written
# A statement ends at . ! ? ؟ … (not inside 97.4) or a line break; the markers right after belong to it.
_END = re.compile(r"(?:(?<!\d)[.!?؟…]+(?!\d)|(?<=\d)[.!?؟…]+(?=\s|$|\[))[\"'”»)]*|\n+")
_FOLLOWING_MARKERS = re.compile(r"(?:\s*" + _MARKER.pattern + r")+")
_LEAD = re.compile(r"^[\s\-*•#>]+")

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9\-.&']*[A-Za-z0-9]|[A-Za-z]")
_WORD = re.compile(r"[^\W\d_]+")
_CLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل")
_AMOUNTS = tuple(sorted(_NUMBER_WORDS, key=len, reverse=True))
_MONTH_NAMES = frozenset(_MONTHS)


@dataclass(frozen=True)
class Draft:
    """One statement as the LLM wrote it: its text without markers, and the
    passage numbers it cites, in order."""

    text: str
    cited: tuple[int, ...]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # "supported", or why it was dropped
    supported_by: tuple[int, ...] = ()  # the cited passages that hold it up


def split(text: str, final: bool = True) -> list[Draft]:
    """The statements of ``text``. While an answer is still streaming
    (``final=False``), only the statements known to be complete: the last
    piece may still grow, and so may the markers after a full stop."""
    pieces: list[str] = []
    start = 0
    for m in _END.finditer(text):
        if m.start() < start:  # inside markers already taken
            continue
        end = m.end()
        if m.group().strip():  # a full stop: the markers right after it are this statement's
            markers = _FOLLOWING_MARKERS.match(text, end)
            end = markers.end() if markers else end
        if end > start:
            pieces.append(text[start:end])
        start = end
    tail = text[start:]
    if not final:
        # the last piece may still grow, and so may the markers after its full stop ("... دولار. [")
        if _MARKERISH.match(tail) and pieces:
            pieces.pop()
        tail = ""
    if tail.strip():
        pieces.append(tail)
    return [d for d in (_draft(p) for p in pieces) if d.text]


def _draft(piece: str) -> Draft:
    cited: list[int] = []
    for m in _MARKER.finditer(piece):
        for n in re.findall(r"\d+", m.group()):
            if int(n) not in cited:
                cited.append(int(n))
    body = _MARKER.sub(" ", piece)
    body = _LEAD.sub("", body)
    body = re.sub(r"\s+([.!?؟…،,:;])", r"\1", re.sub(r"\s+", " ", body)).strip()
    return Draft(body, tuple(cited))


def _bare(word: str) -> str:
    for c in _CLITICS:
        if word.startswith(c) and len(word) - len(c) >= 2:
            return word[len(c):]
    return word


def facts(text: str, names: Collection[str] = ()) -> set[str]:
    """What in ``text`` can be checked against a passage by its form:
    numbers (digits unified, thousands commas dropped), amount words, months,
    Latin-script names, and Arabic words found in ``names`` (normalized)."""
    norm = normalize(text)
    out = {"#" + n.replace(",", "") for n in _NUMBER.findall(norm)}
    out |= {"@" + w.casefold() for w in _LATIN.findall(text)}
    for word in _WORD.findall(norm):
        bare = _bare(word)
        amount = next((a for a in _AMOUNTS if bare.startswith(a) and len(bare) - len(a) <= 3), None)
        if amount is not None:
            out.add("~" + bare)
        elif bare in _MONTH_NAMES or word in _MONTH_NAMES:
            out.add("~" + (word if word in _MONTH_NAMES else bare))
        elif word in names or bare in names:
            out.add("~" + (word if word in names else bare))
    return out


def holds(fact: str, passage: str) -> bool:
    """Whether ``passage`` states the fact (as ``facts`` names it)."""
    norm = normalize(passage)
    kind, value = fact[0], fact[1:]
    if kind == "#":
        return value in {n.replace(",", "") for n in _NUMBER.findall(norm)}
    if kind == "@":  # a Latin name, or the same name in Arabic letters (Nvidia / إنفيديا)
        return value in {w.casefold() for w in _LATIN.findall(passage)} or any(
            latin_keys(value) & arabic_keys(_bare(w)) for w in _WORD.findall(norm) if not w.isascii())
    words = TermSet.of(_bare(w) for w in _WORD.findall(norm))
    return words.has(value) or value in {_bare(w) for w in _WORD.findall(norm)}


def grounded(statement: str, passage: str, question: str = "") -> float:
    """The share of ``statement``'s content words (stemmed, no stop words)
    that ``passage`` holds, matched as question words are (rag/answer/grounding.py).
    With ``question``, only the words the statement adds to it count: what it
    repeats from the question is no evidence of an answer, and counted in it
    hid the one word that was wrong. "الحصول على السيارة رودستر عام 2018" for
    "في أي عام حجز ألتمان سيارة رودستر؟" held 4 of its 5 words, all but the verb,
    over a passage saying he never got the car; of the 2 it adds, 1 (seen on
    the development set, 2026-12-02). A statement that adds nothing scores 0."""
    asked = TermSet.of(tokenize(question))
    terms = [t for t in tokenize(statement) if not asked.has(t)]
    if not terms:
        return 0.0
    words = TermSet.of(tokenize(passage))
    return sum(words.has(t) for t in terms) / len(terms)


def unasked(statement: str, passage: str, question: str) -> list[str]:
    """The question's words that ``statement`` uses and ``passage`` lacks.
    A near miss: asked "كم كان السعر الكامل لسيارة رودستر؟" over a passage on
    the reservation fee, "سعر سيارة رودستر 50 ألف دولار" holds five of its six
    words, and the sixth is the very thing asked (seen on the development set)."""
    asked = TermSet.of(tokenize(question))
    words = TermSet.of(tokenize(passage))
    return [t for t in tokenize(statement) if asked.has(t) and not words.has(t)]


def off_answer(statement: str, answer: str, bare: bool = False) -> list[str]:
    """What keeps ``statement`` from being ``answer`` (the reader's short
    answer to the question in the passage), else []: its numbers and
    Latin-script names when none of them is in the answer, or, for a
    ``bare`` phrase (a statement that can only be the answer itself), the
    answer's when the statement has none of those. A passage usually holds several
    numbers and names; an answer made of one of them can be true of the
    passage and still not answer the question: asked how much Stargate is
    planned to reach, "100 مليار دولار." (its start; the plan is 500); which
    startup Musk pushed, "OpenAI."; which chip maker put two billion into
    xAI, "شركة تسلا." where the answer is Nvidia (seen on the development
    set, 2026-12-02)."""
    if not answer.strip():
        return []
    hard = {f for f in facts(statement) if f[0] in "#@"}
    if hard and not any(holds(f, answer) for f in hard):
        return sorted(f[1:] for f in hard)
    wanted = {f for f in facts(answer) if f[0] in "#@"} if bare else set()
    if wanted and not any(holds(f, statement) for f in wanted):
        return sorted(f[1:] for f in wanted)
    return []


def check(draft: Draft, passages: Sequence[str], reader: Callable[[str, Sequence[str]], Sequence[float]],
          names: Collection[str] = (), question: str = "", answers: Sequence[str] = (),
          factoid: bool = True) -> Verdict:
    """Whether ``draft`` may reach the user. ``passages[n - 1]`` is passage
    ``n``; ``reader(claim, cited_texts)`` gives the reader's probability for
    each (the claim: the question, then the statement); a statement may not use a word of ``question`` that its passage
    lacks (``unasked``). ``answers[n - 1]`` is the short answer to the
    question for passage ``n`` ("" if none): when the question wants a
    fact (``factoid``: how much, when, who, where) or the statement is a bare
    phrase (``FRAGMENT_TERMS`` content words or fewer), a statement with
    numbers or Latin-script names must share one with it, and a bare phrase
    must hold the answer's number or name if it has one (``off_answer``).
    A full sentence answering why or how may bring in other numbers: its
    own words, held by the passage, say what they are."""
    if not draft.cited:
        return Verdict(False, "no citation")
    if any(not 1 <= n <= len(passages) for n in draft.cited):
        return Verdict(False, f"cites a passage that does not exist ({list(draft.cited)})")
    cited = [passages[n - 1] for n in draft.cited]
    found = facts(draft.text, names)
    missing = sorted(f[1:] for f in found if not any(holds(f, p) for p in cited))
    if missing:
        return Verdict(False, f"not in the cited passages: {', '.join(missing)}")
    claim = f"{question} {draft.text}".strip()
    bare = len(tokenize(draft.text)) <= FRAGMENT_TERMS
    strict = factoid or bare
    spans = [answers[n - 1] if strict and n <= len(answers) else "" for n in draft.cited]
    judged = [p >= MIN_READER and grounded(draft.text, text, question) >= MIN_GROUNDED
              and not (question and unasked(draft.text, text, question))
              and not off_answer(draft.text, span, bare=bare)
              for p, text, span in zip(reader(claim, cited), cited, spans)]
    backing = tuple(n for n, ok in zip(draft.cited, judged) if ok)
    if not backing:
        return Verdict(False, "no cited passage supports it")
    # a passage that holds one of its facts stays cited even if the reader judged another one
    needed = {n for n, p in zip(draft.cited, cited) if any(holds(f, p) for f in found)}
    return Verdict(True, "supported", tuple(n for n in draft.cited if n in backing or n in needed))
