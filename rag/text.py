"""Arabic text handling for *matching*: normalization, tokenization, stemming.

Nothing here is ever applied to text a user sees; citations and answers are
cut from the original source text by character offsets.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Bump when normalize() or tokenize() change: the BM25 data in an index built
# with another version no longer matches queries, so loading says it is stale.
TEXT_VERSION = 1

_TRANSLATE = str.maketrans(
    {
        # alef with hamza above/below, madda, wasla -> bare alef
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا",
        "ى": "ي",  # alef maqsura -> yeh
        "ة": "ه",  # teh marbuta -> heh
        "ـ": None,  # tatweel
        # Arabic-Indic and Extended (Persian) digits -> ASCII
        **{chr(0x0660 + i): str(i) for i in range(10)},
        **{chr(0x06F0 + i): str(i) for i in range(10)},
        "٫": ".", "٬": ",",  # Arabic decimal and thousands separators
    }
)
# Tashkeel (fathatan..sukun), superscript alef, Quranic marks.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
# A word as typed, with its diacritics and tatweel (Python's \w has neither): to find
# words in a question and rewrite them in place, then normalize each for matching.
WRITTEN_WORD = re.compile("[\\w\u0640\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]+")
# Invisible format characters: ZWJ/ZWNJ, bidi marks and overrides, BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\u00ad]")


def normalize(text: str) -> str:
    """Normalize for matching: NFKC (folds presentation forms such as ﻻ),
    drop tashkeel, tatweel and invisible marks, unify alef/yeh/teh marbuta,
    ASCII digits, lower-case Latin."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = strip_diacritics(text)
    return text.translate(_TRANSLATE).casefold()


def strip_diacritics(text: str) -> str:
    """``text`` without tashkeel, superscript alef and Quranic marks; letters as written."""
    return _DIACRITICS.sub("", text)


# Runs of letters/digits; the decimal point stays inside numbers (97.4).
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)

# Function words that carry no topic; matched after normalization.
STOPWORDS = frozenset(normalize(w) for w in """
في من على إلى عن مع هذا هذه ذلك تلك التي الذي الذين اللذين هو هي هم هن أنا نحن أنت
كان كانت يكون تكون كانوا قد لقد لم لن لا ما ماذا متى أين كيف كم هل أي أو أم ثم بل
و ف ب ل ك أن إن إنه أنه لكن حتى إذا إذ بين بعد قبل عند كل بعض غير أيضا حيث كما
منذ خلال حول ضد نحو لدى عليه عليها فيه فيها منه منها له لها به بها وهو وهي وقد
the a an of to in on for and or is are was were what who when where how which
""".split())

# Light stemmer, in the style of Larkey et al.'s light10 ("Light Stemming for
# Arabic Information Retrieval", 2007): strip one common prefix and one common
# suffix, never leaving fewer than three letters. Chosen over the library
# stemmers after measuring BM25 recall (benchmarks/stemmers.py, BENCHMARKS.md).
_PREFIXES = tuple(normalize(p) for p in ("وال", "بال", "كال", "فال", "لل", "ال", "و"))
_SUFFIXES = tuple(normalize(s) for s in ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي"))


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """Light-stem one normalized Arabic token; other scripts pass through."""
    if not token or not ("\u0621" <= token[0] <= "\u064a"):
        return token
    for p in _PREFIXES:
        if token.startswith(p) and len(token) - len(p) >= 3:
            token = token[len(p):]
            break
    for s in _SUFFIXES:
        if token.endswith(s) and len(token) - len(s) >= 3:
            token = token[: -len(s)]
            break
    return token


def tokenize(text: str, *, stemmer=stem) -> list[str]:
    """Normalized, stop-word-free, stemmed tokens for BM25."""
    return [stemmer(t) for t in _TOKEN.findall(normalize(text)) if t not in STOPWORDS]


def is_verbatim(source_text: str, start: int, end: int, text: str) -> bool:
    """``text`` is exactly ``source_text[start:end]``: the invariant of every
    chunk, sentence, citation and short answer."""
    return 0 <= start <= end <= len(source_text) and source_text[start:end] == text
