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
from typing import Iterable, Mapping

from .text import normalize

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


def idf_weights(doc_freq: Mapping[str, int], n_docs: int) -> callable:
    """idf of a term; terms the corpus never uses get the largest weight."""
    top = math.log(1 + (n_docs + 0.5) / 0.5)

    def idf(term: str) -> float:
        df = doc_freq.get(term, 0)
        return math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) if df else top

    return idf


_LONG_VOWELS = str.maketrans("", "", "اوي")
_PROCLITICS = "وفبلكيتنا"  # conjunctions, prepositions, verb prefixes
_PRONOUN_SUFFIXES = ("ه", "ها", "هم", "هما", "ت", "وا")


def _variants(word: str) -> set[str]:
    """The word, without one proclitic, and their consonant skeletons
    (inner long vowels dropped: انتظار -> انتظر, إطلاق -> اطلق)."""
    forms = {word}
    if len(word) >= 4 and word[0] in _PROCLITICS:
        forms.add(word[1:])
    return forms | {w[:1] + w[1:].translate(_LONG_VOWELS) for w in forms if len(w) >= 3}


def _close(a: str, b: str) -> bool:
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if not long_.startswith(short):
        return False
    extra = long_[len(short):]
    return (len(short) >= 4 and len(extra) <= 2) or (len(short) >= 2 and extra in _PRONOUN_SUFFIXES)


def _matches(term: str, tokens: set[str]) -> bool:
    # Light stems still differ by a clitic, a suffix or a long vowel now and
    # then (رده / رد, يحجز / حجز, انتظر / انتظار); accept those, and nothing
    # looser: a false match would let a near-miss question through.
    if term in tokens:
        return True
    mine = _variants(term)
    for tok in tokens:
        theirs = _variants(tok)
        if mine & theirs or any(_close(a, b) for a in mine for b in theirs):
            return True
    return False


def coverage(terms: Mapping[str, float] | Iterable[str], tokens: Iterable[str], idf) -> float:
    """idf-weighted share of the question's content terms found in ``tokens``.
    ``terms`` may map each term to an extra weight (e.g. 0.5 for a term
    inherited from an earlier turn)."""
    if not isinstance(terms, Mapping):
        terms = dict.fromkeys(terms, 1.0)
    if not terms:
        return 1.0
    tokens = set(tokens)
    total = sum(idf(t) * w for t, w in terms.items())
    return sum(idf(t) * w for t, w in terms.items() if _matches(t, tokens)) / total


def redundant(a: Iterable[str], b: Iterable[str], threshold: float = 0.6) -> bool:
    """Two sentences state much the same thing (Jaccard overlap of their terms)."""
    a, b = set(a), set(b)
    return bool(a and b) and len(a & b) / len(a | b) >= threshold


def citation_is_verbatim(source_text: str, start: int, end: int, text: str) -> bool:
    return 0 <= start <= end <= len(source_text) and source_text[start:end] == text
