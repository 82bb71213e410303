"""English questions reworded with the articles' own Arabic words.

The reader was trained on Arabic questions only (no training set has English
ones), and every lexical stage (BM25, coverage, the calibration's features)
finds nothing of an English question in Arabic text but its names. The
embedding model is multilingual, though, and places a single English word
next to the Arabic word that translates it: "lawsuit" beside القضائية,
"revealed" beside كشفت, "fee" beside رسوم (on our articles: EVALUATION.md,
"English questions glossed"). So an English question is
glossed word by word with the words of the passages retrieved for it: an
Arabic question word for its English one, the nearest Arabic word of those
passages for each content word, and names the passages write in Latin kept
as they are. The result is pidgin Arabic in English word order, which the
reader and the lexical stages read far better than English.

A word read alone is often placed next to the wrong Arabic word ("department"
beside جانب, "leave" beside nothing close enough), so words are first aligned in
context: the question and the retrieved sentences nearest it are read by the
same encoder, and an English word takes the sentence word whose middle-layer
vector is its mutual nearest ("ArgMax" of SimAlign: Jalili Sabet et al.,
Findings of EMNLP 2020), in the sentence that aligns best with the question.
The word-by-word gloss covers the words left over.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..text import STOPWORDS, normalize, strip_diacritics
from .forms import CURRENCIES

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> unit vectors, one row each

# What a question opens with, longest first; "how much" asks an amount, "how" a manner.
QUESTION_WORDS: tuple[tuple[str, str], ...] = (
    ("how much", "كم"), ("how many", "كم عدد"), ("how long", "كم مدة"), ("how quickly", "كم"), ("how old", "كم عمر"),
    ("in which year", "في أي عام"), ("in what year", "في أي عام"), ("what year", "في أي عام"),
    ("in which", "في أي"), ("in what", "في أي"), ("on which", "في أي"), ("on what", "في أي"),
    ("when", "متى"), ("where", "أين"), ("who", "من"), ("whom", "من"), ("whose", "من"), ("why", "لماذا"),
    ("how", "كيف"), ("which", "أي"), ("what", "ما"),
    ("is", "هل"), ("are", "هل"), ("was", "هل"), ("were", "هل"), ("does", "هل"), ("do", "هل"),
    ("did", "هل"), ("can", "هل"), ("could", "هل"), ("will", "هل"), ("has", "هل"), ("have", "هل"),
)
# "How many" asks a count and "how old" an age, as "كم عدد" and "كم عمر" do, which a sum of money does
# not answer (forms.py); unless what is counted is money ("how many dollars"), then it is a bare "كم".
# Words that say how a sentence is built, not what it is about: dropped.
FUNCTION_WORDS = frozenset("""
a an the of in on at to for from by with into onto about as than then that this these those it its
his her their our your my him them they he she we you i me us is are was were be been being am do does
did has have had will would shall should can could may might must not no nor and or but so if
according per also just only very too any some such there here which what who whom whose when where
why how much many long quickly
""".split())
NUMBERS = {"one": "واحد", "two": "اثنين", "three": "ثلاثة", "four": "أربعة", "five": "خمسة", "six": "ستة",
           "seven": "سبعة", "eight": "ثمانية", "nine": "تسعة", "ten": "عشرة", "first": "الأول",
           "second": "الثاني", "third": "الثالث"}
ARABIC_WORD = re.compile("[\u0621-\u064a][\u0621-\u064a\u064b-\u065f\u0670]*")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*|\d+(?:[.,]\d+)*")
# A content word is replaced only by an Arabic word at least this close. e5's cosines sit high: on
# one of our articles right pairs scored 0.89-0.92 ("empire" إمبراطورية), a word's nearest
# unrelated one up to 0.877 ("unified" واضحة) (EVALUATION.md "English questions glossed").
MIN_COSINE = 0.88
# Of the Arabic words within this of the closest, the shortest is taken: the bare form
# (ماسك) rather than one with a clitic (لماسك), as cosines barely tell them apart.
TIE = 0.01
MAX_VOCABULARY = 800  # distinct Arabic words of the passages looked at, in their order
# An aligned pair's cosine must reach this (middle-layer vectors; right pairs mostly scored 0.55-0.78
# on our articles, EVALUATION.md "English questions aligned").
MIN_ALIGNED = 0.5
# Sentences aligned with an English question: those nearest it of the chunks the gloss reads. The six
# chunks themselves aligned worse on the tuning rows (15 of 27 right, against 17) at four times the cost
# of a first read (EVALUATION.md "English questions aligned").
ALIGNED_SENTENCES = 8
WordVectorsFn = Callable[[Sequence[str], Sequence[Sequence[tuple[int, int]]], str], list]  # texts, spans, role
_ALIGNED_WORD = re.compile(f"{ARABIC_WORD.pattern}|{LATIN_WORD.pattern}")  # the words an alignment pairs


def is_english(text: str) -> bool:
    """Written in Latin letters with no Arabic word."""
    return bool(re.search("[A-Za-z]", text)) and not ARABIC_WORD.search(text)


def vocabulary(passages: Iterable[str], limit: int = MAX_VOCABULARY) -> list[str]:
    """The passages' distinct Arabic content words, without tashkeel, in order."""
    seen: dict[str, None] = {}
    for text in passages:
        for m in ARABIC_WORD.finditer(text):
            word = strip_diacritics(m.group())
            if len(word) >= 3 and normalize(word) not in STOPWORDS:
                seen.setdefault(word, None)
                if len(seen) >= limit:
                    return list(seen)
    return list(seen)


def opening(words: Sequence[str]) -> tuple[str, int]:
    """(the Arabic question word, how many English words it stands for)."""
    lowered = [w.lower() for w in words]
    for english, arabic in QUESTION_WORDS:
        parts = english.split()
        if lowered[:len(parts)] == parts:
            if arabic == "كم عدد" and CURRENCIES & set(lowered[len(parts):len(parts) + 3]):
                return "كم", len(parts)
            return arabic, len(parts)
    return "", 0


def reordered(question: str) -> str:
    """"According to Musk, how quickly…": the question word may open the clause
    after a comma; that clause is put first."""
    clauses = question.split(",", 1)
    if len(clauses) == 2 and not opening(_words(clauses[0]))[1] and opening(_words(clauses[1]))[1]:
        return f"{clauses[1]} {clauses[0]}"
    return question


def gloss(question: str, passages: Sequence[str], embed: Embed, min_cosine: float = MIN_COSINE,
          aligned: Mapping[str, str] | None = None) -> str:
    """``question`` (English) in Arabic words taken from ``passages``; the
    question itself when it is not English, or opens with no question word:
    glossed, "SELECT * FROM users; DROP TABLE x" read as Arabic words and was
    answered, where read as English it is refused. ``aligned`` (``align``)
    gives a content word its Arabic word in context, before anything else."""
    if not is_english(question):
        return question
    question = reordered(question)
    words = _words(question)
    head, used = opening(words)
    if not head:
        return question
    latin = {w.lower() for text in passages for w in LATIN_WORD.findall(text)}
    out: list[str] = []
    wanted: list[int] = []  # positions in ``out`` still in English
    for w in words[used:]:
        low = w.lower()
        if low in FUNCTION_WORDS:
            continue
        if aligned and low in aligned and low not in latin and not any(c.isdigit() for c in w):
            out.append(aligned[low])
        elif low in latin or any(c.isdigit() for c in w):
            out.append(w)  # a name or number the passages write this way
        elif low in NUMBERS:
            out.append(NUMBERS[low])
        else:
            wanted.append(len(out))
            out.append(w)
    vocab = vocabulary(passages)
    if wanted and vocab:
        vectors = embed([*vocab, *(out[i] for i in wanted)])
        table = vectors[:len(vocab)]
        lengths = np.array([len(v) for v in vocab])
        for i, v in zip(wanted, vectors[len(vocab):]):
            sims = table @ v
            best = float(sims.max())
            if best >= min_cosine:  # else the English word stays: a name the passages lack, say
                near = np.flatnonzero(sims >= best - TIE)
                out[i] = vocab[int(near[np.argmin(lengths[near])])]
    return " ".join([head, *out]).strip() + "؟"


def _words(text: str) -> list[str]:
    """The words of an English question, without a possessive 's."""
    return word_spans(text)[0]


def word_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The words of a text (Arabic, Latin, numbers; a possessive 's left out of
    the word) and their character spans."""
    words, spans = [], []
    for m in _ALIGNED_WORD.finditer(text):
        word = re.sub(r"['’]s$", "", m.group()).rstrip("'’-")
        if word:
            words.append(word)
            spans.append((m.start(), m.start() + len(word)))
    return words, spans


def align(question: Sequence[str], vectors: np.ndarray, passages: Sequence[tuple[Sequence[str], np.ndarray]],
          floor: float = MIN_ALIGNED) -> dict[str, str]:
    """English content word (lower case) -> the Arabic word it aligns with:
    in the passage whose words lie nearest the question's content words (the
    mean of each one's best cosine), each content word and the passage word
    that are each other's nearest, at a cosine of at least ``floor``. Every
    question word competes, function words too, so "did" does not leave its
    nearest to "leave". ``vectors``: unit rows, one per question word; each
    passage: its words and their unit rows."""
    content = [i for i, w in enumerate(question) if w.lower() not in FUNCTION_WORDS]
    best, best_score = None, -1.0
    for words, rows in passages:
        if not content or not len(words):
            continue
        sims = vectors @ np.asarray(rows, dtype=np.float32).T
        score = float(sims[content].max(axis=1).mean())
        if score > best_score:
            best, best_score = (words, sims), score
    if best is None:
        return {}
    words, sims = best
    forward, backward = sims.argmax(axis=1), sims.argmax(axis=0)
    out: dict[str, str] = {}
    for i in content:
        j = int(forward[i])
        if backward[j] == i and sims[i, j] >= floor and ARABIC_WORD.fullmatch(words[j]):
            out.setdefault(question[i].lower(), strip_diacritics(words[j]))
    return out


class Aligner:
    """``align`` with the encoder's word vectors (``word_vectors``: texts,
    spans, role -> one array per text), remembering each passage's: the same
    sentences come back question after question, and eight of them cost a
    forward pass of up to 0.15 s on the 2-core machine (the question's own, 10
    to 20 ms, is not remembered). At most ``limit`` passages, in float16 (about
    25 MB of sentences); past it the memory is replaced, never cleared under
    another thread."""

    def __init__(self, word_vectors: WordVectorsFn, limit: int = 1024):
        self._vectors, self._limit = word_vectors, limit
        self._memo: dict[str, tuple[list[str], np.ndarray]] = {}

    def __call__(self, question: str, passages: Sequence[str]) -> dict[str, str]:
        if not is_english(question) or not passages:
            return {}
        words, spans = word_spans(reordered(question))
        if not words:
            return {}
        memo = self.remember(passages)
        (vectors,) = self._vectors([reordered(question)], [spans], "query")
        found = [memo[p] for p in dict.fromkeys(passages) if p in memo]
        return align(words, np.asarray(vectors, dtype=np.float32), found)

    def remember(self, passages: Sequence[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """Read the passages not yet remembered; the memory that holds them."""
        memo = self._memo
        new = [p for p in dict.fromkeys(passages) if p not in memo]
        if len(memo) + len(new) > self._limit:
            memo = self._memo = {}
            new = list(dict.fromkeys(passages))
        if new:
            split = [word_spans(p) for p in new]
            for p, (w, _), v in zip(new, split, self._vectors(new, [sp for _, sp in split], "document")):
                memo[p] = (w, np.asarray(v, dtype=np.float16))
        return memo

    @property
    def limit(self) -> int:
        return self._limit


class WordVectors:
    """``embed`` with a memory of the words it has embedded: the articles'
    vocabulary is small, and an English question's passages are mostly
    those of the questions before it. Safe across the page's threads: past
    its limit the memory is replaced, never cleared under another call, and
    a lost race only embeds a word twice."""

    def __init__(self, embed: Embed, limit: int = 20_000):  # 20,000 x 384 floats: 31 MB
        self._embed, self._limit = embed, limit
        self._memo: dict[str, np.ndarray] = {}

    @property
    def limit(self) -> int:
        return self._limit

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        memo = self._memo
        if len(memo) + len(texts) > self._limit:
            memo = self._memo = {}
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        found = dict(zip(new, self._embed(new))) if new else {}
        memo.update(found)
        return np.stack([found[t] if t in found else memo[t] for t in texts]) if texts else np.zeros((0, 0))
