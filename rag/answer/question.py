"""What a question asks: its kind (how much, when, who...), its content words,
whether it leans on an earlier turn, and whether it is a question at all.

Pure functions over text; no model. Works on normalized text so that hamza,
diacritics and dialect spellings do not matter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..text import STOPWORDS, WRITTEN_WORD, normalize, stem, tokenize

# Question words, normalized, by the kind of answer they want. Dialect forms
# (Gulf, Levantine, Egyptian) beside Modern Standard Arabic, and English.
KINDS: dict[str, tuple[str, ...]] = {
    "quantity": ("كم", "بكم", "قديش", "قداش", "اديش", "how much", "how many", "what amount"),
    "time": ("متي", "امتي", "امتى", "ايمتي", "وقتاش", "في اي عام", "في اي سنه", "اي عام", "اي سنه", "في اي شهر",
             "اي شهر", "اي يوم", "when", "what year", "which year"),
    "person": ("من هو", "من هي", "من هم", "مين", "منو", "who", "whom"),
    "place": ("اين", "وين", "فين", "في اي مدينه", "في اي دوله", "where"),
    "reason": ("لماذا", "ليش", "ليه", "لم", "why", "for what reason"),
    "manner": ("كيف", "كيفاش", "how"),
    "yesno": ("هل", "is", "are", "did", "does", "do", "was", "were", "has", "have", "can"),
    "what": ("ما", "ماذا", "ماهو", "ماهي", "شو", "ايش", "وش", "ايه", "what", "which"),
}
# Words that only frame the question; never content to look for.
FRAME = frozenset(normalize(w) for w in """
كم بكم قديش قداش اديش متى امتى ايمتى وقتاش من مين منو أين وين فين لماذا ليش ليه كيف كيفاش هل ما ماذا ماهو ماهي
شو ايش إيش وش إيه اي أي الذي التي هو هي هم حدث يحدث حصل صار جرى كان كانت يكون قال قالت ذكر ذكرت تذكر
عام سنه سنة قيمة المقالات المقال المصادر المصدر تقول يقول بحسب حسب اخبرني أخبرني
اسم بلغ بلغت يبلغ تبلغ بماذا لماذا وماذا اللي إللي الي يلي تبع تبعت بتاع خاص الخاص بأنه أنه إنه بأنها أنها إنها
عشان علشان بدي ممكن هاد هيك شي شيء أي ايش وش هذي الحين
how much many when who whom where why what which is are was were did does do has have had can could would
the a an of to in on at for by with from about did does say said happen happened tell me according article
and or into that this your you my i its it be been being name called
""".split())
FRAME_STEMS = frozenset(stem(w) for w in FRAME)  # as tokenize gives them
# Pronouns and demonstratives that point back at an earlier turn.
ANAPHORA = frozenset(normalize(w) for w in """
ذلك ذاك هذا هذه تلك هو هي هم هما حينها وقتها عندها بعدها ذلك الحدث الامر الأمر
رده ردها ردهم موقفه موقفها قوله قولها عليه عليها منه منها له لها فيه فيها
معه معها معهم عنه عنها عنهم به بها بهم اليه اليها اليهم
it that this he she they them his her their then
""".split())
_COPULA = frozenset({"هو", "هي", "هم", "هما"})
_ASKING = frozenset({"ما", "من", "ماذا", "مين", "شو", "ايش", "وما", "ومن", "فما", "فمن"})
# Requests that are not questions about the sources.
_NOT_A_QUESTION = re.compile(
    r"^(?:\W*)(?:اكتب|أكتب|الف|ألف|انظم|أنظم|ترجم|لخص لي نكت|احكي|غن|ارسم|برمج|"
    r"تجاهل|انس|أنس|اكشف|اعرض|أظهر|اظهر|write|compose|draw|sing|translate|ignore|forget|reveal|pretend|act as|"
    r"you are now|tell me a joke)\b"
    r"|(?:قصيد|شعر|نكت|تعليمات|تعليماتك|اوامرك|أوامرك|system prompt|your instructions|your prompt|"
    r"ignore (?:all |the )?previous|previous instructions|jailbreak)",
    re.IGNORECASE,
)


# Dialect question words as Modern Standard Arabic writes them. The reader was
# trained on MSA questions (ARCD, AAQAD): asked "ليش تأخرت الرودستر كل هالوقت؟" it
# refuses, asked "لماذا…" it answers "أولويات الإنتاج" (development set a58). Only words
# with no other MSA reading: not ايه (also the letter A), تبع (followed), بدو (Bedouins);
# not مين, whose MSA من is also "from" and would lose the question's kind (person).
STANDARD = {normalize(k): v for k, v in {
    "شو": "ما", "ايش": "ما", "شنو": "ما", "وش": "ما", "وين": "أين", "فين": "أين", "ليش": "لماذا",
    "امتى": "متى", "إمتى": "متى", "ايمتى": "متى", "وقتاش": "متى",
    "قديش": "كم", "قداش": "كم", "اديش": "كم", "ازاي": "كيف", "إزاي": "كيف", "كيفاش": "كيف", "اللي": "الذي",
}.items()}
# Only as a question's first word: "برنامج أوبرا وينفري شو" is a show (ARCD test).
_FIRST_ONLY = frozenset(normalize(w) for w in ("شو", "وش"))


def standard(text: str) -> str:
    """The question with its dialect question words written as MSA writes
    them ("وين بدو ماسك…" -> "أين بدو ماسك…"), for matching and reading;
    never for display. A conjunction stays attached ("وليش" -> "ولماذا")."""
    def swap(m: re.Match) -> str:
        w = normalize(m.group())
        first = m.start() == first_word
        for lead, rest in (("", w), (m.group()[:1], w[1:]) if w[:1] in "وف" else ("", "")):
            if rest in STANDARD and (first or rest not in _FIRST_ONLY):
                return lead + STANDARD[rest]
        return m.group()

    found = WRITTEN_WORD.search(text)
    first_word = found.start() if found else -1
    return WRITTEN_WORD.sub(swap, text)


@dataclass(frozen=True)
class Question:
    text: str
    kind: str  # one of KINDS, or "other"
    content: tuple[str, ...]  # normalized, stemmed content words, in order
    follow_up: bool  # leans on an earlier turn (pronouns, "و..." with few content words)
    request: bool  # not a question about the sources ("write a poem", "reveal your instructions")
    latin: bool  # written mostly in Latin script (answers are Arabic all the same)
    context: str = ""  # a follow-up's earlier turn (rag/pipeline.py): what it already named
    typed: str = ""  # the question as asked, when ``text`` rewords it (English glossed: rag/answer/crosslingual.py)


# C0/C1 control characters and the bidi embedding/override/isolate controls,
# which can reorder how a question is displayed ("Trojan Source", Boucher &
# Anderson 2021). Removed from questions before anything else sees them.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """A question as typed, minus invisible controls, with runs of white space
    made one space."""
    return " ".join(_CONTROLS.sub("", text or "").split())


# English auxiliaries ask yes or no only as the first word: "Did Musk leave?", but "What
# did xAI accuse OpenAI of?" wants a thing (development set a18, a36).
_AUXILIARIES = frozenset(w for w in KINDS["yesno"] if w.isascii())


def _kind(norm: str) -> str:
    padded = f" {norm} "
    for kind, words in KINDS.items():
        for w in words:
            if w in _AUXILIARIES and not norm.startswith(f"{w} "):
                continue
            if f" {w} " in padded or padded.startswith(f" {w}") and len(w) > 2 and norm.startswith(w):
                return kind
    # attached forms: وكم، فمتى، ولماذا...
    for kind, words in KINDS.items():
        for w in words:
            if " " not in w and re.search(rf"(?:^|\s)[وف]?{re.escape(w)}(?:\s|$)", norm):
                return kind
    return "other"


def analyze(text: str) -> Question:
    norm = " ".join(re.findall(r"\w+", normalize(text)))
    words = norm.split()
    # "و"/"ف" on a function word ("ومع", "وعن") as written, not as stemmed: "الولة" stems to "وله"
    particles = {stem(w) for w in words if w[:1] in "وف" and w[1:] in STOPWORDS}
    content = tuple(t for t in tokenize(text) if t not in FRAME_STEMS and t not in STOPWORDS and t not in particles
                    and not (t[:1] in "وف" and t[1:] in FRAME_STEMS))  # ومن، فمتى
    refers_back = any(
        (w in ANAPHORA or (w[:1] in "وف" and w[1:] in ANAPHORA))
        and not (w in _COPULA and i > 0 and words[i - 1] in _ASKING)  # "ما هي" asks, it does not point back
        for i, w in enumerate(words))
    # "و"/"ف" before a question word or a particle opens a continuation: "ومتى؟", "ولماذا تركها؟",
    # "وعلى ماذا تعتمد؟", "وبماذا أجابه؟", "ومع من كان؟" (development set f09, f10, f12)
    rest = words[0][1:] if words and words[0][:1] in "وف" else ""
    starts_with_and = bool(rest) and (_kind(rest) != "other" or rest in STOPWORDS
                                      or (rest[:1] in "بل" and _kind(rest[1:]) != "other"))
    latin = sum(c.isascii() and c.isalpha() for c in text) > sum("\u0600" <= c <= "\u06ff" for c in text)
    return Question(
        text=text,
        kind=_kind(norm),
        content=content,
        follow_up=(refers_back or starts_with_and) and len(content) <= 2,
        request=bool(_NOT_A_QUESTION.search(normalize(text).strip())) if text.strip() else False,
        latin=latin,
    )
