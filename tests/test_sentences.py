from hypothesis import given, strategies as st

from rag.ingest.sentences import split_sentences
from rag.ingest.sources import scan_sources
from conftest import SOURCES


def test_splits_at_arabic_and_latin_sentence_ends_not_decimals():
    text = "حاول ماسك شراء OpenAI مقابل 97.4 مليار دولار. هل نجح؟ لا! رفض العرض بشكل قاطع.\nعنوان فرعي هنا"
    parts = [text[a:b] for a, b in split_sentences(text)]
    assert parts == ["حاول ماسك شراء OpenAI مقابل 97.4 مليار دولار.", "رفض العرض بشكل قاطع.", "عنوان فرعي هنا"]
    # "هل نجح؟" and "لا!" are shorter than MIN_CHARS: not worth quoting alone


def test_closing_quotes_stay_with_their_sentence():
    text = 'قال فيه: "لقد سرقت مؤسسة غير ربحية." وكان هذا الاتهام تكرارًا لانتقاداته.'
    parts = [text[a:b] for a, b in split_sentences(text)]
    assert parts[0].endswith('ربحية."')


def test_list_bullets_are_not_quoted():
    text = "- فبراير: حاول ماسك شراء OpenAI.\n- أغسطس: مشادة علنية على منصة X."
    assert [text[a:b] for a, b in split_sentences(text)][0].startswith("فبراير")


@given(st.lists(st.sampled_from(list("ماسك ألتمان.؟!\n \"»-*") + ["97.4", "OpenAI", "\n\n"]), max_size=120)
       .map("".join))
def test_spans_are_ordered_stripped_substrings(text):
    last = 0
    for a, b in split_sentences(text):
        assert last <= a < b <= len(text)
        assert text[a:b] == text[a:b].strip()
        last = b


def test_real_corpus_sentences():
    for s in scan_sources(SOURCES).sources:
        spans = split_sentences(s.text)
        assert len(spans) >= 10
