"""The answer-or-refuse decision as a value (rag/answer/decision.py), on hand-made
readings: no model."""
import pytest

from rag.answer import decision as d
from rag.answer.compose import ExtractiveComposer
from rag.answer.decision import Candidate, decide
from rag.answer.evidence import Evidence
from rag.answer.forms import contradicts
from rag.answer.question import analyze
from rag.answer.reader import Reading
from rag.ingest.sentences import Sentence, split_sentences
from rag.answer.settings import AnswerSettings
from rag.text import tokenize

TEXT = ("حجز ألتمان سيارة رودستر عام 2018. ودفع رسوم حجز بلغت 50 ألف دولار. "
        "ردّ ماسك بتعليق لاذع على المنشور. وأعادت تيسلا المبلغ خلال 24 ساعة.")
SENTS = [Sentence("s", a, b, TEXT[a:b]) for a, b in split_sentences(TEXT)]
SETTINGS = AnswerSettings(reader_threshold=0.5)


def candidate(first, last, p, answer=None, p_span=0.9, centre=None):
    """A window of sentences first..last; ``answer`` a substring of it."""
    sents = tuple(SENTS[first:last + 1])
    start, end = sents[0].start, sents[-1].end
    text = TEXT[start:end]
    lo = text.index(answer) if answer else 0
    hi = lo + len(answer) if answer else 0
    s = SENTS[centre if centre is not None else first]
    ev = Evidence(s, "عنوان", 0.8, 0.5, 0.5, True, tuple(tokenize(s.text)), 0, position=SENTS.index(s))
    return Candidate(ev, sents, text, start, Reading(p, lo, hi, p_span))


def test_answers_from_the_best_window_with_a_short_answer_inside_its_quote():
    q = analyze("كم بلغت رسوم الحجز؟")
    dec = decide(q, [candidate(2, 3, 0.3, "24 ساعة"), candidate(0, 1, 0.9, "50 ألف دولار")], SETTINGS)
    assert dec.answer and dec.reason == d.ANSWERED and dec.score == 0.9
    sid, lo, hi = dec.short
    assert TEXT[lo:hi] == "50 ألف دولار"
    quoted = dec.quotes[0].sentence
    assert quoted.start <= lo and hi <= quoted.end and quoted.text.startswith("ودفع")  # the span's own sentence
    a = ExtractiveComposer().compose(q, dec)
    s = a.short_answer
    c = a.citations[s.n - 1]
    assert s.text == TEXT[s.start:s.end] == "50 ألف دولار" and c.start <= s.start and s.end <= c.end
    assert a.answer.startswith("50 ألف دولار\n") and a.to_json()["short_answer"]["text"] == s.text


def test_refuses_below_the_threshold_with_a_reason_and_related_reading():
    q = analyze("ما لون سيارة رودستر؟")
    dec = decide(q, [candidate(0, 1, 0.2, "2018"), candidate(2, 3, 0.1)], SETTINGS)
    assert not dec.answer and dec.reason == d.NOT_SUPPORTED and dec.score == 0.2
    a = ExtractiveComposer().compose(q, dec)
    assert a.refused and a.reason == d.NOT_SUPPORTED and not a.citations and a.related
    assert a.to_json()["short_answer"] is None


def test_the_threshold_is_a_parameter_and_monotone():
    q = analyze("كم بلغت رسوم الحجز؟")
    cands = [candidate(0, 1, 0.6, "50 ألف دولار")]
    answered = [decide(q, cands, SETTINGS, threshold=t).answer for t in (0.1, 0.5, 0.6, 0.61, 0.9)]
    assert answered == [True, True, True, False, False]
    assert decide(q, [], SETTINGS).reason == d.NO_EVIDENCE


@pytest.mark.parametrize("question", ["لماذا رد ماسك بتعليق لاذع؟", "كيف رد ماسك على المنشور؟"])
def test_why_and_how_questions_get_no_short_answer(question):
    dec = decide(analyze(question), [candidate(2, 2, 0.9, "بتعليق لاذع")], SETTINGS)
    assert dec.answer and dec.short is None


def test_no_short_answer_when_the_span_is_not_confident_or_is_the_whole_sentence():
    q = analyze("كم بلغت رسوم الحجز؟")
    assert decide(q, [candidate(1, 1, 0.9, "50 ألف دولار", p_span=0.01)], SETTINGS).short is None
    whole = SENTS[1].text
    assert decide(q, [candidate(1, 1, 0.9, whole)], SETTINGS).short is None


@pytest.mark.parametrize("question, span, echo", [
    ("في أي شهر من 2018 حجز ألتمان سيارة رودستر؟", "عام 2018", True),  # "عام" only frames it
    ("هل دفع ألتمان 50 ألف دولار؟", "50 ألف دولار", True),
    ("كم بلغت رسوم الحجز؟", "50 ألف دولار", False),
    ("متى حجز ألتمان السيارة؟", "عام 2018", False),
])
def test_a_short_answer_that_only_repeats_the_question_is_not_given(question, span, echo):
    q = analyze(question)
    assert d.echoes(q, span) is echo
    first = 0 if "2018" in span else 1
    dec = decide(q, [candidate(first, first, 0.9, span)], SETTINGS)
    assert dec.answer and (dec.short is None) is echo  # the quote stays either way


@pytest.mark.parametrize("question, context, span, answers", [
    # a name, place, date or amount the question already says: the window does not answer
    ("كم مليون دولار ضخ ماسك في OpenAI؟", "", "ضخ ملايين الدولارات", False),  # development set u36
    ("متى حجز ألتمان سيارة رودستر عام 2018؟", "", "عام 2018", False),
    ("متى حجز ألتمان السيارة؟", "", "عام 2018", True),
    # ... nor one the turn it follows named: "who was with him?" is not answered by "he"
    ("من هو شريكه؟", "أين كان ماسك لحظة توقيع الاتفاق؟", "ماسك", False),
    ("من هو شريكه؟", "", "ماسك", True),
    # a question that wants a thing may name it in its answer: the quote answers, with no short answer
    ("ما هي سيارة رودستر؟", "", "سيارة رودستر", True),
])
def test_a_window_whose_short_answer_only_repeats_the_conversation_does_not_answer(question, context, span,
                                                                                   answers):
    from dataclasses import replace

    q = replace(analyze(question), context=context)
    text = f"قال التقرير إن {span} كان الأهم."
    lo = text.index(span)
    assert (d.of_form(q, text, Reading(0.9, lo, lo + len(span), 0.6), 0.05) is not None) is answers


def test_a_likely_alternative_that_adds_to_the_conversation_is_the_short_answer_instead():
    from dataclasses import replace

    q = replace(analyze("من هو شريكه؟"), context="أين كان ماسك لحظة توقيع الاتفاق؟")
    text = "كان ماسك في السعودية مع الرئيس ترامب."
    lo, alt = text.index("ماسك"), text.index("الرئيس ترامب")
    r = Reading(0.9, lo, lo + 4, 0.6, ((alt, alt + len("الرئيس ترامب"), 0.2),))
    fit = d.of_form(q, text, r, 0.05)
    assert fit is not None and text[fit.start:fit.end] == "الرئيس ترامب" and fit.p_span == 0.2


def test_the_short_answer_leaves_out_a_leading_preposition_after_the_form_checks():
    q = analyze("متى حجز ألتمان السيارة؟")
    dec = decide(q, [candidate(0, 0, 0.9, "عام 2018")], SETTINGS)
    sid, lo, hi = dec.short
    assert TEXT[lo:hi] == "2018"
    # why the form checks read the reader's span, not the short answer: "عام 2018" is a year,
    # which "كم" rules out; a bare "2018" might be a count
    kam = analyze("كم بلغت رسوم الحجز؟")
    assert contradicts(kam, "عام 2018") and not contradicts(kam, "2018")
    assert d.of_form(kam, TEXT, Reading(0.9, 24, 32, 0.9), 0.05) is None


def test_a_short_answer_takes_in_the_bracket_its_span_stopped_inside():
    text = "وفي الثالثة عشرة انتقلت الكاتبة إلى بوغوتا (Bogotá) وعاشت فيها. ثم عادت إلى باريس."
    sents = [Sentence("s", a, b, text[a:b]) for a, b in split_sentences(text)]
    window = sents[0].text
    lo = window.index("بوغوتا")
    ev = Evidence(sents[0], "عنوان", 0.8, 0.5, 0.5, True, tuple(tokenize(window)), 0, position=0)
    reading = Reading(0.9, lo, window.index(")"), 0.9)  # the reader stopped before ")"
    q = analyze("إلى أين انتقلت الكاتبة في الثالثة عشرة؟")
    dec = decide(q, [Candidate(ev, (sents[0],), window, 0, reading)], SETTINGS)
    _, a, b = dec.short
    assert text[a:b] == "بوغوتا (Bogotá)"
    s = ExtractiveComposer().compose(q, dec).short_answer
    assert s.text == text[s.start:s.end] == "بوغوتا (Bogotá)"


def test_a_second_quote_must_pass_on_its_own_and_be_close():
    q = analyze("ماذا حدث للمبلغ؟")
    near = decide(q, [candidate(0, 1, 0.9, "50 ألف دولار"), candidate(3, 3, 0.85, "24 ساعة")], SETTINGS)
    assert [e.sentence.text[:4] for e in near.quotes] == ["ودفع", "وأعا"]
    far = decide(q, [candidate(0, 1, 0.9, "50 ألف دولار"), candidate(3, 3, 0.55, "24 ساعة")], SETTINGS)
    assert len(far.quotes) == 1
    failing = decide(q, [candidate(0, 1, 0.9, "50 ألف دولار"), candidate(3, 3, 0.45, "24 ساعة")],
                     AnswerSettings(reader_threshold=0.5, second_margin=0.9))
    assert len(failing.quotes) == 1  # every quoted sentence passes the reader's check itself


def test_a_window_of_the_wrong_form_refuses_even_when_the_calibration_would_answer():
    """The calibration layer reads more than the reader's probability; a
    window whose short answer has a form the question rules out (its
    ``form_ok`` set by ReaderDecider.read, rag/answer/forms.py) is still no answer."""
    from dataclasses import replace

    from rag.answer.calibration import Calibration

    always = replace(SETTINGS, calibration=Calibration((), (), 5.0, 0.5, (), ()))
    q = analyze("ما لون سيارة رودستر؟")
    c = candidate(0, 1, 0.9, "50 ألف دولار")
    assert decide(q, [c], always).answer
    wrong = replace(c, form_ok=False)
    dec = decide(q, [wrong], always)
    assert wrong.p == 0.0 and not dec.answer and dec.reason == d.NOT_SUPPORTED and dec.related


@pytest.mark.parametrize("question, best, alternative, p_alt, kept", [
    ("أين حجز ألتمان السيارة؟", "2018", "سيارة رودستر", 0.2, "سيارة رودستر"),  # a likely alternative
    ("أين حجز ألتمان السيارة؟", "2018", "سيارة رودستر", 0.01, None),  # an unlikely one: no answer
    ("أين حجز ألتمان سيارة رودستر؟", "2018", "سيارة رودستر", 0.2, None),  # one that repeats the question
    ("كم بلغت رسوم الحجز؟", "رسوم حجز", "50 ألف دولار", 0.1, "50 ألف دولار"),
    ("كم بلغت رسوم الحجز؟", "50 ألف دولار", "رسوم حجز", 0.1, "50 ألف دولار"),  # the best is of the form
])
def test_a_short_answer_of_the_form_asked_is_the_best_span_or_a_likely_alternative(
        question, best, alternative, p_alt, kept):
    text = SENTS[0].text + " " + SENTS[1].text
    lo, alt = text.index(best), text.index(alternative)
    r = Reading(0.9, lo, lo + len(best), 0.6, ((alt, alt + len(alternative), p_alt),))
    fit = d.of_form(analyze(question), text, r, min_span=0.05)
    assert (text[fit.start:fit.end] if fit else None) == kept
    if fit is not None:
        assert fit.p_answer == 0.9 and fit.p_span == (0.6 if kept == best else p_alt)
