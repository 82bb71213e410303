"""Does a passage support an answer to a question? Pure functions.

A similarity score alone cannot tell "the articles discuss Altman's Roadster
reservation" from "the articles say what the Roadster costs". So support is
checked the way a careful reader would: the evidence must contain what the
question asks about (its content words, weighted by how rare they are in the
corpus, so a missing "price" or "salary" counts heavily), and it must contain
the kind of thing the question word wants (a number for كم, a date for متى).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Callable, Iterable, Mapping

from ..text import normalize
from .transliteration import arabic_keys, latin_keys

_NUMBER_WORDS = ("الف", "الاف", "مليون", "ملايين", "مليار", "ملياري", "مليارات", "عشرات", "مئات", "نصف",
                 "ربع", "ثلث", "اثنين", "اثنان", "ثلاث", "اربع", "خمس", "ست", "سبع", "ثماني", "تسع", "عشر",
                 "مرتين", "واحد", "واحده")
_NUMBER = re.compile(r"\d|(?:^|\s)[وبل]?(?:" + "|".join(_NUMBER_WORDS) + r")\w*")
_MONTHS = ("يناير", "فبراير", "مارس", "ابريل", "مايو", "يونيو", "يوليو", "اغسطس", "سبتمبر", "اكتوبر",
           "نوفمبر", "ديسمبر", "كانون", "شباط", "اذار", "نيسان", "ايار", "حزيران", "تموز", "اب", "ايلول",
           "تشرين")
# A year, a month name, or a number of hours/days/years: what "when" wants.
_TIME = re.compile(r"\b(?:1[89]|20)\d\d\b|(?:^|\s)[وفب]?(?:ال)?(?:" + "|".join(_MONTHS) + r")(?:\s|$)"
                   r"|(?:\d+|" + "|".join(_NUMBER_WORDS) + r")\w*\s+(?:ساع|يوم|ايام|اسبوع|شهر|اشهر|سنوات|سنه|اعوام)")


def answer_type_ok(kind: str, text: str) -> bool:
    """Whether ``text`` holds the kind of thing the question word asks for."""
    norm = normalize(text)
    if kind == "quantity":
        return bool(_NUMBER.search(norm))
    if kind == "time":
        return bool(_TIME.search(norm))
    return True  # names, places and reasons are not checked by surface form


def idf_weights(doc_freq: Mapping[str, int], n_docs: int) -> Callable[[str], float]:
    """idf of a term; terms the corpus never uses get the largest weight."""
    top = math.log(1 + (n_docs + 0.5) / 0.5)

    def idf(term: str) -> float:
        df = doc_freq.get(term, 0)
        return math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) if df else top

    return idf


_LONG_VOWELS = str.maketrans("", "", "اوي")
_PROCLITICS = "وفبلكيتنا"  # conjunctions, prepositions, verb prefixes
_PRONOUN_SUFFIXES = ("ه", "ها", "هم", "هما", "ت", "وا")


@lru_cache(maxsize=100_000)
def _keys(word: str) -> tuple[frozenset[str], frozenset[str]]:
    """(forms, reach) of a word. Forms: the word, without one proclitic, and
    their consonant skeletons (inner long vowels dropped: انتظار -> انتظر).
    Reach: the forms plus what they shorten to by dropping a pronoun suffix
    (رده -> رد) or, for stems of four letters or more, one or two final letters.
    Two words match when the forms of one meet the reach of the other."""
    forms = {word}
    if len(word) >= 4 and word[0] in _PROCLITICS:
        forms.add(word[1:])
    raw = set(forms)
    forms |= {w[:1] + w[1:].translate(_LONG_VOWELS) for w in raw if len(w) >= 3}
    reach = set(forms)
    for w in forms:
        reach.update(w[:-k] for k in (1, 2) if len(w) - k >= 4)
    for w in raw:  # not on skeletons: حكومه -> حكمه must not reach حكم
        reach.update(w[: -len(sfx)] for sfx in _PRONOUN_SUFFIXES if w.endswith(sfx) and len(w) - len(sfx) >= 2)
    # A name written in the other script (rag/answer/transliteration.py): a Latin word's
    # sounds are among its forms, an Arabic word's in its reach, so إنفيديا meets Nvidia
    # while neither script's words match each other by sound.
    if word.isascii():
        forms |= latin_keys(word)
    else:
        reach |= arabic_keys(word)
    return frozenset(forms), frozenset(reach)


@dataclass(frozen=True)
class TermSet:
    """The words of a passage, keyed for fast tolerant matching."""

    forms: frozenset[str]
    reach: frozenset[str]

    @classmethod
    def of(cls, tokens: Iterable[str]) -> "TermSet":
        # chained in C rather than a set union per token: an article's ~600 words a question
        # were most of retrieval's time at 1M chunks (benchmarks/bench_archive.py)
        keys = [_keys(tok) for tok in set(tokens)]
        return cls(frozenset(chain.from_iterable(f for f, _ in keys)),
                   frozenset(chain.from_iterable(r for _, r in keys)))

    def __or__(self, other: "TermSet") -> "TermSet":
        return TermSet(self.forms | other.forms, self.reach | other.reach)

    def has(self, term: str) -> bool:
        # Light stems still differ by a clitic, a suffix or a long vowel now
        # and then (رده / رد, يحجز / حجز, انتظر / انتظار); accept those and
        # nothing looser: a false match would let a near-miss question through.
        forms, reach = _keys(term)
        return not forms.isdisjoint(self.reach) or not reach.isdisjoint(self.forms)


def _matches(term: str, tokens: Iterable[str]) -> bool:
    return TermSet.of(tokens).has(term)


def coverage(terms: Mapping[str, float] | Iterable[str], words: "TermSet | Iterable[str]", idf) -> float:
    """idf-weighted share of the question's content terms found in ``words``.
    ``terms`` may map each term to an extra weight (e.g. 0.5 for a term
    inherited from an earlier turn)."""
    if not isinstance(terms, Mapping):
        terms = dict.fromkeys(terms, 1.0)
    if not terms:
        return 1.0
    if not isinstance(words, TermSet):
        words = TermSet.of(words)
    total = sum(idf(t) * w for t, w in terms.items())
    return sum(idf(t) * w for t, w in terms.items() if words.has(t)) / total


def redundant(a: Iterable[str], b: Iterable[str], threshold: float = 0.6) -> bool:
    """Two sentences state much the same thing (Jaccard overlap of their terms)."""
    a, b = set(a), set(b)
    return bool(a and b) and len(a & b) / len(a | b) >= threshold
