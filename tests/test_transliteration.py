"""Names across scripts (rag/answer/transliteration.py): real pairs from Arabic
news match, common Arabic words that happen to share a name's consonants do not."""
import pytest

from rag.answer.grounding import TermSet
from rag.answer.transliteration import (MIN_CONSONANTS, arabic_keys, join_spelled, latin_keys, latin_names,
                                        name_units, respell, spelling_index)
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


# ------------------------------------------------ names spelled out in several words
SPELLED = ["OpenAI", "xAI", "G42", "SpaceX", "IBM", "BBC", "USB", "Nvidia", "Tesla", "X", "A", "Y", "V3", "ON"]


@pytest.mark.parametrize("question, joined", [
    ("من يرأس شركة اوبن اي اي؟", "من يرأس شركة OpenAI؟"),  # the issue's own example
    ("من يرأس شركة أوبن إيه آي؟", "من يرأس شركة OpenAI؟"),
    ("من يرأس شركة أُوبِن إيه آي؟", "من يرأس شركة OpenAI؟"),  # diacritics
    ("كم جمعت إكس إيه آي؟", "كم جمعت xAI؟"),
    ("كم دفعت جي 42 الإماراتية؟", "كم دفعت G42 الإماراتية؟"),
    ("متى تطرح سبيس إكس أسهمها؟", "متى تطرح SpaceX أسهمها؟"),
    ("وأوبن إيه آي ماذا فعلت؟", "و OpenAI ماذا فعلت؟"),  # the particle stays
    ("متى بدأت بي بي سي بثها؟", "متى بدأت BBC بثها؟"),
])
def test_a_name_spelled_out_in_several_words_is_written_as_the_articles_write_it(question, joined):
    assert join_spelled(question, spelling_index(SPELLED)) == joined


@pytest.mark.parametrize("question", [
    "في أية مدينة أقيم الحفل؟",  # أية is "which", not the letter A
    "الاتحاد السوفيتي وأي دولة أخرى؟",  # وأي is not Y
    "ما الفرق في 3 مراحل؟",  # "in 3", not V3
    "هل قال او ان شيئا؟",  # "or that", not ON
    "كم ضخت إنفيديا؟",  # one word: left to the sound keys (respell, TermSet)
    "ما هي منصة إكس؟",  # a single letter's name alone is not joined
    "من يرأس شركة OpenAI؟",
])
def test_words_that_only_look_like_spelled_letters_are_left_alone(question):
    assert join_spelled(question, spelling_index(SPELLED)) == question


def test_spelled_units_and_the_names_worth_indexing():
    assert name_units("OpenAI") == (("w", "open"), ("l", "a"), ("l", "i"))
    assert name_units("G42") == (("l", "g"), ("d", "42"))
    assert name_units("Nvidia") == name_units("X") == name_units("NVIDIA") == ()
    assert latin_names("أعلنت OpenAI وG42 عن Stargate-UAE") == ["OpenAI", "G42", "Stargate", "UAE"]
    assert join_spelled("اوبن اي اي", {}) == "اوبن اي اي"
