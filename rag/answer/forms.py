"""The form a short answer must have, from the wording of its question.

The reader's best span is sometimes the right passage's wrong thing. Asked
"ما لون سيارة رودستر التي حجزها ألتمان؟" or "في أي شهر من 2026 أغلقت xAI جولة
التمويل؟", reader v5 answers with a sum of money from the sentence about the
car or the round (development set, 2026-12-04): the article says neither. A
colour, a month, a count or a person is never a sum of money, and "كم" always
wants a number, so such a span shows that the window does not hold what was
asked. ``contradicts`` says when; only wordings whose form is unambiguous are
checked ("متى" may be answered by an era, "ما" by anything). ``shown`` cuts
a span the form checks accepted down to the short answer shown: no leading
"هي" or "في", no second sentence.

Pure functions over normalized text. ``grounding.answer_type_ok`` is the
older, looser cousin (does a *sentence* hold a number for كم, a date for
متى; its word lists match as prefixes). Its lists are not shared with these
whole-word ones: merging them would change the rules' ``type_ok`` and the
calibration features fitted on it.
"""
from __future__ import annotations

import re

from .question import Question
from ..text import normalize

_WORD = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(normalize(w) for w in text.split())


MONTHS = _words("""
يناير فبراير مارس أبريل ابريل إبريل مايو يونيو يونيه يوليو يوليه أغسطس سبتمبر أكتوبر نوفمبر ديسمبر
كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين
محرم صفر ربيع جمادى رجب شعبان رمضان شوال القعدة الحجة
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec
""")
CURRENCIES = _words("""
دولار دولارا دولارات دولارًا يورو ريال ريالا ريالات جنيه جنيها جنيهات درهم دراهم دينار دنانير ليرة ليرات
يوان روبية روبيات استرليني إسترليني فرنك فرنكات بيزو روبل
dollar dollars usd euro euros eur pound pounds gbp riyal riyals dirham dirhams yuan yen
""")
_CURRENCY_SIGNS = frozenset("$€£¥")
NUMBERS = _words("""
واحد واحدة اثنان اثنين اثنتان اثنتين ثلاث ثلاثة أربع أربعة خمس خمسة ست ستة سبع سبعة ثمان ثماني ثمانية
تسع تسعة عشر عشرة عشرون عشرين ثلاثون ثلاثين أربعون أربعين خمسون خمسين ستون ستين سبعون سبعين
ثمانون ثمانين تسعون تسعين مئة مائة مئات مائتان مائتين مئتان مئتين ثلاثمئة ثلاثمائة أربعمئة أربعمائة
خمسمئة خمسمائة ستمئة ستمائة سبعمئة سبعمائة ثمانمئة ثمانمائة تسعمئة تسعمائة
ألف آلاف ألفين ألفان ألفا مليون ملايين مليونين مليونان مليوني مليار مليارات ملياري مليارين ملياران
بليون بلايين تريليون تريليونات نصف ربع ثلث أضعاف ضعف ضعفين عشرات عدة بضع بضعة
أول أولى ثاني ثانية ثالث ثالثة رابع رابعة خامس خامسة سادس سادسة سابع سابعة ثامن ثامنة تاسع تاسعة عاشر عاشرة
ثلثا ثلثي ثلثين ربعين
مرتين مرتان سنتين سنتان عامين عامان يومين يومان شهرين شهران ساعتين ساعتان أسبوعين أسبوعان دقيقتين
one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty
hundred hundreds thousand thousands million millions billion billions trillion dozen dozens several half
""")
# Words that may stand beside a number or a date in a span without naming
# anything ("حوالي عام 2018", "أكثر من 50 ألف دولار").
_NUMERIC_FRAME = _words("""
عام العام سنة السنة حوالي نحو قرابة قرابه أكثر أقل من ما يقارب يزيد على إلى في و بـ
مليون مليار ألف
about around over more than less nearly almost some and to in of the year
""")
# "كم مرة", "كم سنة", "كم عدد", "كم مدة": a count or a length of time, not a sum of money.
# A count is not a year either ("كم مرة التقيا؟" is not answered by "أكتوبر 2025"); a length of time may be years.
_COUNTS_AFTER_KAM = _words("مرة مره مرات عدد شخص شخصا موظف موظفا")
_NOT_MONEY_AFTER_KAM = _COUNTS_AFTER_KAM | _words("""
مدة المدة سنة سنه سنوات سنين عام عاما أعوام يوم يوما أيام شهر شهرا أشهر شهور ساعة ساعه ساعات
دقيقة دقيقه دقائق ثانية ثانيه ثوان أسبوع أسبوعا أسابيع عقد عقود قرن قرون
""")
# Durations and ages asked with a verb: "كم تستغرق", "كم استمر", "كم عمر".
_NOT_MONEY_VERBS = _words("تستغرق يستغرق استغرق استغرقت استمر استمرت دام دامت يدوم تدوم عمر عمره عمرها")
# A year is named after these ("عام 2026", "سنة 1922", "يناير 2018").
_YEAR_FRAME = _words("عام العام سنة السنة")
# "ما لون / ما اسم / ما السرعة القصوى": an attribute that is a name or a
# measure other than money.
_ATTRIBUTES_NOT_MONEY = _words("لون اللون اسم الاسم لقب اللقب جنسية الجنسية سرعة السرعة طول الطول وزن الوزن "
                               "ارتفاع الارتفاع مساحة المساحة عمر العمر عدد العدد مدينة المدينة دولة الدولة "
                               "عاصمة العاصمة")
_ATTRIBUTES_NOT_NUMBER = _words("لون اللون اسم الاسم لقب اللقب جنسية الجنسية مدينة المدينة دولة الدولة عاصمة "
                                "العاصمة")
_PREFIXES = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ل", "ف")


def _bare(word: str) -> tuple[str, ...]:
    """A normalized word and its forms without one attached prefix."""
    return (word,) + tuple(word[len(p):] for p in _PREFIXES if word.startswith(p) and len(word) - len(p) >= 2)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


# A currency's name that names something else: "ريال مدريد" is a football club (ARCD has
# questions on it: "أين لعب رونالدو؟"), "يورو 2016" a championship.
_CLUBS_AFTER_REAL = _words("مدريد سوسيداد بيتيس سرقسطة مايوركا بلد أوفييدو")


def is_money(span: str) -> bool:
    if any(c in _CURRENCY_SIGNS for c in span):
        return True
    words = _tokens(span)
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        bare = _bare(w)
        if not any(b in CURRENCIES for b in bare):
            continue
        if "ريال" in bare and nxt in _CLUBS_AFTER_REAL:
            continue
        if "يورو" in bare and re.fullmatch(r"(19|20)\d\d", nxt):
            continue
        return True
    return False


def has_number(span: str) -> bool:
    return any(w[0].isdigit() or any(b in NUMBERS for b in _bare(w)) for w in _tokens(span))


def has_month(span: str) -> bool:
    norm = normalize(span)
    return bool(re.search(r"\d{1,2}\s*[/.-]\s*\d{1,2}", norm)) or any(
        any(b in MONTHS for b in _bare(w)) for w in _tokens(span))


def only_years(span: str) -> bool:
    """Every number of the span is a year named as one ("في منتصف عام 2026",
    "يناير 2018"); a bare "2000" may be a count and is not."""
    words = _tokens(span)
    numbers = [i for i, w in enumerate(words) if w[0].isdigit() or any(b in NUMBERS for b in _bare(w))]
    return bool(numbers) and all(
        len(words[i]) == 4 and words[i].isdigit() and i > 0
        and any(b in _YEAR_FRAME or b in MONTHS for b in _bare(words[i - 1])) for i in numbers)


def names_nothing(span: str) -> bool:
    """Only numbers, sums, dates and the words around them: no name or thing."""
    words = _tokens(span)
    return bool(words) and all(
        w[0].isdigit() or any(b in NUMBERS or b in CURRENCIES or b in MONTHS or b in _NUMERIC_FRAME
                              for b in _bare(w)) for w in words)


def contradicts(question: Question, span: str, following: str = "") -> bool:
    """Whether a short answer ``span`` has a form the question rules out.
    ``following``: the text right after the span, whose first word says
    what a bare number counts ("50 ألف" before "دولار" is a sum of money)."""
    if not span.strip():
        return False
    words = _tokens(question.text)
    padded = " " + " ".join(words) + " "
    after = _tokens(following)[:1]
    money = is_money(span) or (has_number(span) and bool(after) and is_money(after[0]))
    if " اي شهر " in padded or re.search(r"\b(?:which|what) month\b", padded):
        return not has_month(span)
    if re.search(r" اي (?:عام|سنه|العام|السنه) ", padded) or re.search(r"\b(?:which|what) year\b", padded):
        # A year is a number, never a sum of money: none of the 253 such questions of ARCD and
        # AAQAD train has a gold that is one.
        return not has_number(span) or money
    if question.kind == "quantity":
        after = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("كم", "بكم", "وكم", "فكم", "قديش")]
        counted = (any(any(b in _NOT_MONEY_AFTER_KAM for b in _bare(a)) for a in after)
                   or any(w in _NOT_MONEY_VERBS for w in words)
                   or re.search(r"\bhow many (?:times|years|days|months|hours|people)\b", padded))
        if money and counted:
            return True
        # An amount or a count is not a year: "كم سعر سهم سبيس إكس؟" is not answered by "منتصف
        # عام 2026". Unless time is asked ("كم دام", "كم من الوقت", "كم سنة"): a span of years
        # may say how long. Of 233 such questions in ARCD and AAQAD train none has a gold of years only.
        count = any(any(b in _COUNTS_AFTER_KAM for b in _bare(a)) for a in after)
        timed = (counted and not count) or " الوقت " in padded or re.search(r"\bhow (?:long|old)\b", padded)
        return not has_number(span) or (not timed and only_years(span))
    if question.kind in ("person", "place"):
        return money or names_nothing(span)
    if question.kind == "time":
        return money
    for i, w in enumerate(words):
        if w not in ("ما", "ماهو", "ماهي", "وما"):
            continue
        rest = [x for x in words[i + 1:i + 3] if x not in ("هو", "هي")]
        if rest and rest[0] in _ATTRIBUTES_NOT_MONEY:
            return money or (rest[0] in _ATTRIBUTES_NOT_NUMBER and names_nothing(span))
    return False


# Words a short answer does not lead with: a copula ("هي نوع من البطالة") and
# "في" before a place or a date, "عام"/"سنة" before a year. Chosen from the
# training sets' gold spans (ARCD train and AAQAD train): annotators left out
# "في" 477 times where it stood right before the answer and kept it 177 times;
# "عام"/"سنة" 351 against 42; "هو"/"هي"/"وهو"/"وهي" 131 against 43. Meaning
# words stay ("حوالي 500", "منذ 1963").
_LEADING = _words("في فى هو هي هم هما وهو وهي وهم")
_LEADING_BEFORE_NUMBER = _words("عام العام سنة السنة")


# A sentence end inside a span: ". ! ? ؟" after a word of two letters or more or a
# digit (not "ق.م."), not a decimal point or an ellipsis, then reference markers
# ("[1][2]") and more text. Wikipedia text often has no space after it, so the
# sentence splitter keeps "العاصمة.و هي أيضا..." as one sentence.
_SENTENCE_END = re.compile(r"(?:(?<=[^\W\d_]{2})|(?<=\d))(?<!\.)[.!?؟](?![.\d])(?:\[\d+\])*\s*(?=\S)")


# Words an amount may lead with ("أكثر من 500", "ما يقرب من 600", "بحوالي 2.1 مليون"). Of the
# 404 gold answers with a number to ARCD train's and AAQAD train's كم questions, this leaves 388
# as they are; the other 16 are mostly answers that run on ("كان عمره 7 أعوام حين...", "تتألف من
# 28 ولاية"). Reader v9 led "بكم حاول ماسك شراء OpenAI؟" with "OpenAI مقابل" (EVALUATION.md,
# "Reader v9 shipped"); on v5's saved answers to the development set, ARCD test and TyDi dev it
# changes none.
_BEFORE_AMOUNT = _words("أكثر اكثر أقل اقل من عن حوالي بحوالي حوالى نحو بنحو قرابة زهاء ما يقرب يزيد "
                        "يتجاوز بين مابين تقريبا")
_DIGITS = re.compile(r"[وبل]?\(?\d")


def shown(span: str, amount: bool = False) -> tuple[int, int]:
    """The short answer proper inside a reader's ``span``, as offsets into it.
    It ends at the first sentence end inside the span: of the 8,612 gold
    answers of ARCD train and AAQAD train, 7 run past one. It
    leaves out leading words of ``_LEADING`` (and of ``_LEADING_BEFORE_NUMBER``
    before a number), never the last word: "في جنوب تايلاند" -> "جنوب
    تايلاند", "هو لاعب كرة قدم" -> "لاعب كرة قدم", "في عام 1998" -> "1998".
    ``amount`` (a كم question): it leads with its first number written in
    digits, or a word of ``_BEFORE_AMOUNT`` right before it, unless that
    number is a year ("عام 2002", "أكتوبر 2025") or a spelled-out number
    comes first: "OpenAI مقابل 97.4 مليار دولار" -> "97.4 مليار دولار"."""
    m = _SENTENCE_END.search(span)
    end = m.start() if m and m.start() > 0 else len(span)
    start = _amount_start(span[:end]) if amount else 0
    return _past_leading(span, start, end), end


def _past_leading(text: str, start: int, end: int) -> int:
    """Where text[start:end] starts without its leading words of ``_LEADING``
    (``_LEADING_BEFORE_NUMBER`` before a number), never its last word."""
    while True:
        w = re.match(r"\s*(\S+)\s+(?=\S)", text[start:end])
        if not w:
            return start
        word = normalize(w.group(1))
        if word in _LEADING or (word in _LEADING_BEFORE_NUMBER and text[start + w.end()].isdigit()):
            start += w.end()
        else:
            return start


_OPENS = {"(": ")", "[": "]", "{": "}", "«": "»", "“": "”", "﴿": "﴾"}
_CLOSES = {c: o for o, c in _OPENS.items()}
_EDGE = " \t\n،,;؛:-–—"
_REFERENCE = re.compile(r"\[\d*(?:\]|$)")  # Wikipedia's "[1]"
_TRAILING_REFERENCES = re.compile(r"(?:\s*\[\d+\]?)+\s*$")  # "[2][3" too: a span may stop inside one


def balanced(text: str, start: int, end: int, reach: int = 120) -> tuple[int, int]:
    """text[start:end] with no bracket or quote left open, as offsets into
    ``text`` (the quoted sentence). The reader's span often stops inside a
    pair: "بوغوتا (Bogotá", "بلقب \"رياضي القرن", "المنوفية) هو الرئيس
    الرابع" (about 3 % of reader v18b's short answers on the public sets,
    2026-12-07). The reader's words stay: a mark left open takes in its
    partner when that lies within ``reach`` characters outside the span ("(Bogotá)",
    "(636 م)", "(14 يونيو 1946) هو الرئيس"). Otherwise the span is cut at
    the mark; a cut at the start drops the leading words ``shown`` drops
    ("المنوفية) هو الرئيس الرابع" -> "الرئيس الرابع"). A reference marker
    ("نومه[1") is always cut. When mending would leave no word, the span
    stays as it was."""
    a, b = start, end
    for _ in range(6):  # each pass mends one mark
        tail = _TRAILING_REFERENCES.search(text, a, b)
        if tail and tail.start() > a:
            b = tail.start()
            while b > a and text[b - 1] in _EDGE:
                b -= 1
        mark = _unmatched(text, a, b)
        if mark is None:
            return (a, b) if re.search(r"\w", text[a:b]) else (start, end)
        i, opens = mark
        if opens:
            partner = '"' if text[i] == '"' else _OPENS[text[i]]
            j = text.find(partner, b, b + reach)
            if j >= 0 and not _REFERENCE.match(text, i):
                b = j + 1
            else:
                b = i
                while b > a and text[b - 1] in _EDGE:
                    b -= 1
        else:
            partner = '"' if text[i] == '"' else _CLOSES[text[i]]
            j = text.rfind(partner, max(0, a - reach), a)
            if j >= 0:
                a = j
            else:
                a = i + 1
                while a < b and text[a] in _EDGE:
                    a += 1
                a = _past_leading(text, a, b)
        if a >= b:
            return start, end
    return start, end


def _unmatched(text: str, start: int, end: int) -> tuple[int, bool] | None:
    """The first mark in text[start:end] closing a pair opened before
    ``start``, else the last one opening a pair that closes after ``end``
    (its offset, and whether it opens); None when every pair is whole.
    A straight quote '"' opens or closes by how many come before it in ``text``."""
    stack: list[int] = []
    quote = text.count('"', 0, start) % 2 == 1  # inside a quotation at the span's start
    quote_at = -1  # the straight quote that opened it inside the span
    for i in range(start, end):
        c = text[i]
        if c in _OPENS:
            stack.append(i)
        elif c in _CLOSES:
            if stack and text[stack[-1]] == _CLOSES[c]:
                stack.pop()
            else:
                return i, False
        elif c == '"':
            if quote and quote_at < 0:
                return i, False
            quote, quote_at = not quote, (i if not quote else -1)
    opened = stack + ([quote_at] if quote_at >= 0 else [])
    return (max(opened), True) if opened else None


def _amount_start(span: str) -> int:
    """Where ``shown`` starts an amount in ``span`` (0: where it starts)."""
    words = list(re.finditer(r"\S+", span))
    first = next((i for i, w in enumerate(words) if has_number(w.group())), 0)
    if first == 0 or not _DIGITS.match(words[first].group()):
        return 0
    before = normalize(words[first - 1].group()).strip("(")
    if any(b in _YEAR_FRAME or b in MONTHS for b in _bare(before)):
        return 0
    while first > 0 and any(b in _BEFORE_AMOUNT for b in _bare(normalize(words[first - 1].group()))):
        first -= 1
    return words[first].start()
