import pytest

from rag.answer.grounding import TermSet, answer_type_ok, coverage, idf_weights, redundant
from rag.text import is_verbatim
from rag.text import tokenize


@pytest.mark.parametrize("kind, text, ok", [
    ("quantity", "رسوم حجز بلغت 50 ألف دولار", True),
    ("quantity", "بقيمة ملياري دولار", True),
    ("quantity", "انتظار دام أكثر من سبع سنوات ونصف", True),
    ("quantity", "ردّ ماسك سريعًا على منشور ألتمان", False),
    ("time", "أُعلن عنه لأول مرة في نوفمبر 2017", True),
    ("time", "خلال 24 ساعة", True),
    ("time", "في بداية مايو", True),
    ("time", "عاد التوتر مجددًا بعد سجالٍ علني", False),
    ("person", "أي نص", True),
])
def test_answer_type(kind, text, ok):
    assert answer_type_ok(kind, text) is ok


@pytest.mark.parametrize("term, word", [("رده", "رد"), ("يحجز", "حجز"), ("انتظر", "انتظار"), ("اغلقت", "اغلاق"),
                                        ("روبوت", "روبوتات"), ("لاعب", "كلاعب"), ("اطلق", "اطلاق")])
def test_tolerant_matching_accepts_inflections(term, word):
    assert TermSet.of([word]).has(term) and TermSet.of([term]).has(word)


@pytest.mark.parametrize("term, word", [("بشرك", "بشر"), ("مليار", "مليان"), ("سعر", "شعر"), ("حكم", "حكومه")])
def test_tolerant_matching_rejects_other_words(term, word):
    assert not TermSet.of([word]).has(term)


def test_coverage_weights_rare_and_unknown_terms():
    idf = idf_weights({"ماسك": 40, "رودستر": 2, "حجز": 3}, n_docs=41)
    sentence = tokenize("حجز ماسك سيارة رودستر")
    assert coverage(["ماسك", "رودستر", "حجز"], sentence, idf) == 1.0
    # a near miss: "price" never appears in the corpus, so its absence weighs most
    near_miss = coverage(["سعر", "رودستر", "ماسك"], sentence, idf)
    common_missing = coverage(["ماسك", "رودستر", "حجز", "غائب"], tokenize("رودستر حجز غائب"), idf)
    assert near_miss < 0.6 < common_missing
    assert coverage({"رودستر": 1.0, "سعر": 0.5}, sentence, idf) > coverage({"رودستر": 0.5, "سعر": 1.0}, sentence, idf)
    assert coverage([], sentence, idf) == 1.0


def test_redundant_and_verbatim():
    a, b = tokenize("حاول ماسك شراء OpenAI مقابل 97.4 مليار دولار"), tokenize("عرض ماسك شراء OpenAI بقيمة 97.4 مليار دولار")
    assert redundant(a, b) and not redundant(a, tokenize("أعلن ترامب مشروع ستارجيت"))
    text = "نص المصدر كما هو."
    assert is_verbatim(text, 0, 2, "نص") and not is_verbatim(text, 0, 3, "نص")
    assert not is_verbatim(text, 10, 99, "")
