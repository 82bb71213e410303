"""Names across scripts (rag/answer/transliteration.py): real pairs from Arabic
news match, common Arabic words that happen to share a name's consonants do not."""
import pytest

from rag.answer.grounding import TermSet
from rag.answer.transliteration import MIN_CONSONANTS, arabic_keys, latin_keys, respell
from rag.text import tokenize


def one(word: str) -> str:
    (token,) = tokenize(word)
    return token


@pytest.mark.parametrize("arabic, latin", [
    ("إنفيديا", "Nvidia"), ("لإنفيديا", "Nvidia"), ("غوغل", "Google"), ("جوجل", "Google"), ("سيسكو", "Cisco"),
    ("مايكروسوفت", "Microsoft"), ("أوراكل", "Oracle"), ("بلومبرغ", "Bloomberg"), ("ألتمان", "Altman"),
    ("ستارجيت", "Stargate"), ("ترامب", "Trump"), ("تسلا", "Tesla"), ("تيسلا", "Tesla"), ("غروك", "Grok"),
    ("ماسك", "Musk"), ("رودستر", "Roadster"), ("أنثروبيك", "Anthropic"), ("سكوت", "Scott"), ("تويتر", "Twitter"),
])
def test_a_name_matches_across_scripts_both_ways(arabic, latin):
    a, b = one(arabic), one(latin)
    assert TermSet.of([b]).has(a) and TermSet.of([a]).has(b)


@pytest.mark.parametrize("arabic, latin", [
    ("نفوذ", "Nvidia"),  # influence: n f V d, but Nvidia's final a is written
    ("نفذ", "Nvidia"), ("تنفيذ", "Nvidia"), ("اتصال", "Tesla"), ("تمسك", "Musk"), ("موسكو", "Musk"),
    ("يتميز", "Thomas"), ("اوبن", "OpenAI"), ("برق", "park"), ("سلطان", "Stargate"),
])
def test_common_words_do_not_pass_for_names(arabic, latin):
    a, b = one(arabic), one(latin)
    assert not TermSet.of([b]).has(a) and not TermSet.of([a]).has(b)


@pytest.mark.parametrize("first, second", [("grok", "greek"), ("غوغل", "جوجل"), ("تاثير", "توتر")])
def test_words_of_one_script_never_match_by_sound(first, second):
    assert not TermSet.of([one(first)]).has(one(second))


@pytest.mark.parametrize("word", ["انفيديا", "nvidia", "microsoft", "مايكروسوفت", "اوبن", "openai", "xai", "بين",
                                  "ابل", "apple", "ماسك", "الذكاء", "2018", "gpu"])
def test_every_key_is_marked_and_has_enough_consonants(word):
    for key in arabic_keys(word) | latin_keys(word):
        assert key.startswith("≈") and len(key[1:].replace("V", "")) >= MIN_CONSONANTS


def test_respell_writes_the_name_as_the_passage_does():
    latin = "حيث ظهرت عملاقة الرقائق Nvidia كلاعب رئيسي بضخ ملياري دولار"
    assert respell("كم ضخت إنفيديا؟", latin) == "كم ضخت Nvidia؟"
    assert respell("ماذا قال ألتمان عن لإنفيديا", "Sam Altman on Nvidia") == "ماذا قال Altman عن Nvidia"


def test_respell_leaves_the_question_alone_when_the_passage_spells_it_in_arabic_or_has_no_name():
    both = "أعلنت كل من OpenAI، أوراكل، إنفيديا، سيسكو"
    assert respell("كم ضخت إنفيديا؟", both) == "كم ضخت إنفيديا؟"
    assert respell("كم ضخت إنفيديا؟", "ضخت الشركة ملياري دولار") == "كم ضخت إنفيديا؟"
    assert respell("ما نفوذ ماسك؟", "Nvidia invested") == "ما نفوذ ماسك؟"
