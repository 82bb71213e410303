"""Names written in the other script: إنفيديا in a question, Nvidia in the article.

Arabic news writes many foreign names in Latin letters, and readers ask about them
in Arabic letters (and the other way round). Lexical matching and the reader miss
such pairs, so each word gets *sound keys*: its consonants in classes shared by
both scripts, with its vowel letters marked. Two words of different scripts that
share a key are taken for the same name. Pure functions.

How a key is made, as Arabic transliterates (Nvidia إنفيديا, Google غوغل/جوجل,
Cisco سيسكو, Microsoft مايكروسوفت, Tesla تسلا):
- consonants fall into classes (p/b -> b, v/f -> f, g/j/غ/ج -> g, c/k/ك/خ -> k, ...);
- a run of vowel letters is one ``V`` (a e i o u w y / ا و ي ى and hamza seats);
- Arabic leaves short vowels unwritten, so a Latin word's inner vowels and a final
  silent e are optional, but a final a/i/o/u is written (Nvidia ends in ا): that is
  what keeps نفوذ ("influence", n f V d) off Nvidia (n f V d V);
- Arabic may open a name with a prothetic alef (إنفيديا), so a leading ``V`` is
  optional on the Arabic side;
- letters transliteration rarely uses (ع, the emphatics ص ط ض ظ, ق) get classes no
  Latin letter has, which keeps common words like اتصال and تمسك off Tesla and Musk;
- a key needs three consonants: with two, OpenAI (b n) would meet بين, "in", ...
Measured on the words of ARCD train's contexts and our articles (tests pin examples).
"""
from __future__ import annotations

import re
from functools import lru_cache
from itertools import product

from ..text import normalize, tokenize

MIN_CONSONANTS = 3
MAX_OPTIONAL = 5  # inner vowels dropped in every combination: at most 2**5 keys a word
_PREFIX = "≈"  # marks a sound key among a word's matching keys (rag/answer/grounding.py)

_LATIN = str.maketrans({**dict.fromkeys("aeiouwy", "V"), "p": "b", "v": "f", "j": "g", "c": "k",
                        "z": "s", "x": "ks"})
_ARABIC = str.maketrans({
    **dict.fromkeys("اويىءئؤ", "V"), "ب": "b", "پ": "b", "ت": "t", "ث": "t", "د": "d", "ذ": "d", "ف": "f",
    "ڤ": "f", "ج": "g", "غ": "g", "گ": "g", "ك": "k", "خ": "k", "ق": "q", "ل": "l", "م": "m", "ن": "n",
    "ر": "r", "س": "s", "ز": "s", "ش": "s", "ح": "h", "ه": "h", "ة": "",
    "ع": "3", "ص": "S", "ط": "T", "ض": "D", "ظ": "Z",
})
_DIGRAPHS = (("ph", "f"), ("th", "t"), ("sh", "s"), ("ch", "s"), ("kh", "k"), ("gh", "g"), ("ck", "k"),
             ("qu", "q"))
_SOFT_C = re.compile(r"c(?=[eiy])")
_SILENT_H = re.compile(r"(?<=[^aeiou])h|h$")
_DOUBLED = re.compile(r"(.)\1")
_VOWELS = re.compile("V+")
_PARTICLES = "وفبلك"  # before a name (ولإنفيديا); not the verb prefixes ت ي ن ا
_VERB = re.compile("ي[^اوي]")  # يتميز, يدشن: a verb's prefix, not a name's first sound
_ARABIC_WORD = re.compile("[\u0621-\u064a]+")
_WORD = re.compile(r"[^\W\d_]+")


def _enough(pattern: str) -> bool:
    return len(pattern.replace("V", "")) >= MIN_CONSONANTS and pattern.isascii()


def _latin_patterns(word: str) -> list[tuple[str, bool]]:
    """(pattern, ends in a silent e) of a normalized Latin word and, for al-/el-, of
    its rest (Altman: the stemmer reads ألتمان's ال as the article and leaves تمان)."""
    if not (word.isascii() and word.isalpha()):
        return []
    out = []
    for w in (word, word[2:]) if word[:2] in ("al", "el") else (word,):
        w = _DOUBLED.sub(r"\1", w)  # Scott سكوت: Arabic writes a double letter once
        for pair, one in _DIGRAPHS:
            w = w.replace(pair, one)
        out.append((_VOWELS.sub("V", _SOFT_C.sub("s", _SILENT_H.sub("", w)).translate(_LATIN)), w.endswith("e")))
    return out


@lru_cache(maxsize=65536)
def latin_keys(word: str) -> frozenset[str]:
    """Sound keys of a normalized Latin word ("nvidia": ≈nfVdV, ≈nfdV)."""
    out = set()
    for pattern, silent_e in _latin_patterns(word):
        slots = [i for i, ch in enumerate(pattern) if ch == "V" and i > 0 and (i < len(pattern) - 1 or silent_e)]
        optional = slots[:MAX_OPTIONAL]
        for keep in product((True, False), repeat=len(optional)):
            dropped = {i for i, k in zip(optional, keep) if not k}
            key = "".join(ch for i, ch in enumerate(pattern) if i not in dropped)
            if _enough(key):
                out.add(_PREFIX + key)
    return frozenset(out)


def latin_skeletons(word: str) -> frozenset[str]:
    """The consonants of a Latin word's keys (``skeleton``): one or two strings, cheap
    enough to file a whole vocabulary under (a word's keys are up to 2**5 strings)."""
    return frozenset(p.replace("V", "") for p, _ in _latin_patterns(word) if _enough(p))


def skeleton(key: str) -> str:
    """A sound key's consonants: the keys of two words can only meet if these do."""
    return key.removeprefix(_PREFIX).replace("V", "")


@lru_cache(maxsize=65536)
def arabic_keys(word: str) -> frozenset[str]:
    """Sound keys of a normalized Arabic word ("انفيديا": ≈VnfVdV, ≈nfVdV); none
    for a word without a vowel letter (transliteration writes them: إنفيديا, not نفذ)
    or one that opens like a verb."""
    if not _ARABIC_WORD.fullmatch(word) or not re.search("[اوي]", word) or _VERB.match(word):
        return frozenset()
    out = set()
    for w in (word, word[1:]) if word[0] in _PARTICLES and len(word) > 3 else (word,):
        pattern = _VOWELS.sub("V", w.removesuffix("ه").translate(_ARABIC))  # a final ه: mostly teh marbuta
        for key in {pattern, pattern[1:] if pattern.startswith("V") else pattern}:
            if _enough(key):
                out.add(_PREFIX + key)
    return frozenset(out)


def respell(question: str, passage: str) -> str:
    """The question with each Arabic word that the passage writes only in Latin
    letters (إنفيديا where it says Nvidia) spelled the passage's way, so that a
    reader that does not know both spellings of a name still sees it. The
    question itself when there is nothing to respell."""
    latin: dict[str, str] = {}
    for m in _WORD.finditer(passage):
        if m.group().isascii():
            for key in latin_keys(normalize(m.group())):
                latin.setdefault(key, m.group())
    if not latin:
        return question
    words = set(tokenize(passage))

    def swap(m: re.Match) -> str:
        tokens = tokenize(m.group())
        if len(tokens) != 1 or tokens[0] in words:
            return m.group()
        return next((latin[k] for k in sorted(arabic_keys(tokens[0])) if k in latin), m.group())

    return _WORD.sub(swap, question)
