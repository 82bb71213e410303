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
from typing import Iterable, Mapping, Sequence

from ..text import STOPWORDS, WRITTEN_WORD, normalize, tokenize

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


def _enough(pattern: str, minimum: int = MIN_CONSONANTS) -> bool:
    return len(pattern.replace("V", "")) >= minimum and pattern.isascii()


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
def latin_keys(word: str, minimum: int = MIN_CONSONANTS) -> frozenset[str]:
    """Sound keys of a normalized Latin word ("nvidia": ≈nfVdV, ≈nfdV), of at
    least ``minimum`` consonants."""
    out = set()
    for pattern, silent_e in _latin_patterns(word):
        slots = [i for i, ch in enumerate(pattern) if ch == "V" and i > 0 and (i < len(pattern) - 1 or silent_e)]
        optional = slots[:MAX_OPTIONAL]
        for keep in product((True, False), repeat=len(optional)):
            dropped = {i for i, k in zip(optional, keep) if not k}
            key = "".join(ch for i, ch in enumerate(pattern) if i not in dropped)
            if _enough(key, minimum):
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
def arabic_keys(word: str, minimum: int = MIN_CONSONANTS) -> frozenset[str]:
    """Sound keys of a normalized Arabic word ("انفيديا": ≈VnfVdV, ≈nfVdV); none
    for a word without a vowel letter (transliteration writes them: إنفيديا, not نفذ)
    or one that opens like a verb."""
    if not _ARABIC_WORD.fullmatch(word) or not re.search("[اوي]", word) or _VERB.match(word):
        return frozenset()
    out = set()
    for w in (word, word[1:]) if word[0] in _PARTICLES and len(word) > 3 else (word,):
        pattern = _VOWELS.sub("V", w.removesuffix("ه").translate(_ARABIC))  # a final ه: mostly teh marbuta
        for key in {pattern, pattern[1:] if pattern.startswith("V") else pattern}:
            if _enough(key, minimum):
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


# ------------------------------------------------ names spelled out in several words
# Arabic news spells an acronym letter by letter and a compound name part by part:
# OpenAI is "أوبن إيه آي" (or "اوبن اي اي"), xAI "إكس إيه آي", G42 "جي 42", BBC "بي بي سي".
# Word-level keys cannot meet those, so a run of such words is joined back into the
# Latin name the articles write. Letter names as Arabic writes them, normalized
# (rag/text.py: hamza seats to ا, ى to ي).
LETTER_NAMES: dict[str, frozenset[str]] = {ch: frozenset(normalize(n) for n in names.split()) for ch, names in {
    "a": "إيه أيه اي آي", "b": "بي", "c": "سي", "d": "دي", "e": "إي اي", "f": "إف اف", "g": "جي",
    "h": "إتش اتش إيتش", "i": "آي اي أي", "j": "جيه جاي", "k": "كيه كاي", "l": "إل ال", "m": "إم ام",
    "n": "إن ان", "o": "أو او", "p": "بي", "q": "كيو", "r": "آر ار", "s": "إس اس", "t": "تي",
    "u": "يو", "v": "في", "w": "دبليو", "x": "إكس اكس", "y": "واي", "z": "زد زي",
}.items()}
_BY_LETTER_NAME: dict[str, tuple[str, ...]] = {}
for _ch, _names in LETTER_NAMES.items():
    for _n in _names:
        _BY_LETTER_NAME[_n] = (*_BY_LETTER_NAME.get(_n, ()), _ch)
MAX_SPELLED_LETTERS = 4  # IBM, GPT are read letter by letter; NVIDIA, OPENAI as words
_UNIT = re.compile(r"[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]+|[A-Z]|\d+")
_LATIN_NAME = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?![A-Za-z0-9])")  # وG42 too
PART_CONSONANTS = 2  # inside a spelled-out name a part may be short: Open -> أوبن (b n)

Unit = tuple[str, str]  # ("l", letter), ("d", digits) or ("w", a word part)


@lru_cache(maxsize=65536)
def name_units(name: str) -> tuple[Unit, ...]:
    """How Arabic would spell the Latin word ``name`` out, one word a unit:
    OpenAI -> (w open)(l a)(l i), G42 -> (l g)(d 42). Empty for a word read as
    one (Nvidia, Tesla: arabic_keys meets those) and for a single letter, whose
    Arabic name is a word too (أية, جاي and واي would be A, J and Y)."""
    parts = _UNIT.findall(name)
    if "".join(parts) != name:
        return ()
    units: list[Unit] = []
    for part in parts:
        if part.isdigit():
            units.append(("d", part))
        elif len(part) == 1 or part.isupper() and len(part) <= MAX_SPELLED_LETTERS:
            units.extend(("l", ch.lower()) for ch in part)
        else:
            units.append(("w", part.lower()))
    return tuple(units) if len(units) > 1 else ()


def _signatures(form: str) -> set[Unit]:
    """The units an Arabic word (normalized) can spell."""
    out: set[Unit] = {("l", ch) for ch in _BY_LETTER_NAME.get(form, ())}
    if form.isdigit():
        out.add(("d", form))
    out |= {("w", k) for k in arabic_keys(form, PART_CONSONANTS)}
    return out


def _unit_signatures(unit: Unit) -> set[Unit]:
    kind, value = unit
    return {("w", k) for k in latin_keys(value, PART_CONSONANTS)} if kind == "w" else {unit}


def latin_names(text: str) -> list[str]:
    """The Latin words of a text, as written (OpenAI, G42)."""
    return _LATIN_NAME.findall(text)


def spelling_index(names: Iterable[str]) -> dict[Unit, tuple[str, ...]]:
    """Latin names that can be spelled out in several Arabic words, filed by
    what their first word would be (``join_spelled`` looks them up)."""
    out: dict[Unit, set[str]] = {}
    for name in set(names):
        units = name_units(name)
        if units:
            for sig in _unit_signatures(units[0]):
                out.setdefault(sig, set()).add(name)
    return {sig: tuple(sorted(v)) for sig, v in out.items()}


def _spells(units: tuple[Unit, ...], words: list[str]) -> bool:
    """Whether ``words`` (normalized, one a unit) spell ``units`` out."""
    if len(words) != len(units):
        return False
    if not any(kind == "w" or w not in STOPWORDS for (kind, _), w in zip(units, words) if kind != "d"):
        return False  # "او ان" is "or that", not ON; "في 3" is "in 3", not V3
    return all(_unit_signatures(u) & _signatures(w) for u, w in zip(units, words))


def join_spelled(question: str, index: Mapping[Unit, Sequence[str]]) -> str:
    """The question with each run of words that spells out a name of
    ``index`` (``spelling_index`` of the articles' Latin words) written as
    that name: "من يرأس شركة اوبن اي اي؟" -> "من يرأس شركة OpenAI؟". A
    particle on the first word stays ("وإكس إيه آي" -> "و xAI"). The question
    itself when nothing is spelled out."""
    if not index:
        return question
    found = list(WRITTEN_WORD.finditer(question))
    forms = [normalize(m.group()) for m in found]
    out, last, i = [], 0, 0
    while i < len(found):
        best: tuple[int, str, str] | None = None  # (words, name, particle)
        options = [("", forms[i])]
        if len(forms[i]) > 2 and forms[i][0] in _PARTICLES:  # tried first: a tie keeps the particle
            options.insert(0, (found[i].group()[0], forms[i][1:]))
        for particle, form in options:
            for sig in _signatures(form):
                for name in index.get(sig, ()):
                    units = name_units(name)
                    if (best is None or len(units) > best[0]) and _spells(units, [form, *forms[i + 1:i + len(units)]]):
                        best = (len(units), name, particle)
        if best is None:
            i += 1
            continue
        n, name, particle = best
        out += [question[last:found[i].start()], f"{particle} {name}" if particle else name]
        last = found[i + n - 1].end()
        i += n
    return "".join(out) + question[last:] if out else question
