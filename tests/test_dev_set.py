"""Floors on the development set with the real model and the shipped reader:
a regression in retrieval, answering or refusal fails CI. Measured rates are
in EVALUATION.md (153 rows, 2026-12-06, reader v9 with its calibration layer and
the checks of the short answer's form: answerable 0.786, unanswerable refused
0.580; check split 0.833 / 0.389. On the first 137 rows: 0.791 / 0.565; v5 had
0.780 / 0.543 there). With 27 English rows more (180 rows) and English questions
glossed, 2026-12-07 evening: 0.803 / 0.534, check split 0.803 / 0.346. With 46 fresh
English rows more (226 rows) and English words aligned in context, 2026-12-07 night:
0.758 / 0.493, check split 0.763 / 0.323 (the new rows are harder than the old: 20 of 35
answered and 3 of 11 refused). The floors sit a few rows below them; the targets of
issue 10 (0.92 / 0.95) are not met."""

import pytest

from rag.answer.crosslingual import is_english
from rag.eval import evalsets
from rag.config import Config
from rag.pipeline import Sanad
from conftest import ROOT, SOURCES

pytestmark = pytest.mark.model
DEV = ROOT / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    config = Config.load(env={}, sources_dir=SOURCES, index_dir=tmp_path_factory.mktemp("dev") / "index")
    sanad = Sanad(config)
    sanad.ensure_index()
    rows = evalsets.load(DEV).questions
    return sanad, rows, [sanad.ask(r.question, r.history) for r in rows]


def test_the_set_is_big_and_varied_enough():
    rows = evalsets.load(DEV).questions
    answerable = [r for r in rows if r.answerable]
    assert len(answerable) >= 40 and len(rows) - len(answerable) >= 20
    assert {"formal", "dialect", "no-hamza", "english", "follow-up", "transliteration", "list", "paraphrase",
            "open"} <= {r.style for r in answerable}
    assert sum(r.style == "near-miss" for r in rows) >= 25 and any(r.style == "open" for r in rows if not r.answerable)


def test_expected_phrases_are_verbatim_in_their_sources():
    texts = {p.stem: p.read_text(encoding="utf-8") for p in SOURCES.glob("*.md")}
    for r in evalsets.load(DEV).questions:
        if r.answerable:
            assert any(a in texts[s] for a in r.answers for s in r.sources), r.id


def test_answerable_questions_are_answered_from_the_expected_source(results):
    _, rows, answers = results
    assert evalsets.rates(rows, answers)["answerable_correct"] >= 0.72


def test_unanswerable_questions_are_refused(results):
    _, rows, answers = results
    assert evalsets.rates(rows, answers)["unanswerable_refused"] >= 0.50


def test_held_out_split_is_not_much_worse(results):
    _, rows, answers = results
    check = evalsets.rates(rows, answers, "check")
    assert check["answerable_correct"] >= 0.72 and check["unanswerable_refused"] >= 0.35


def test_every_citation_is_verbatim_and_answers_are_arabic(results):
    sanad, rows, answers = results
    for row, a in zip(rows, answers):
        for c in a.citations + a.related:
            assert sanad.index.sources[c.source].text[c.start:c.end] == c.text
        assert any("\u0600" <= ch <= "\u06ff" for ch in a.answer), row.id  # English questions too


def test_follow_ups_are_answered_in_their_conversation(results):
    """Rows asked after an earlier turn ("ومع من كان؟" after "أين كان ماسك…؟"):
    13 of 16 measured (EVALUATION.md, follow-ups)."""
    _, rows, answers = results
    pairs = [(r, a) for r, a in zip(rows, answers) if r.style == "follow-up"]
    assert len(pairs) >= 16 and sum(evalsets.correct(r, a) for r, a in pairs) >= 12


def test_answers_marked_uncertain_are_right_far_less_often_than_the_rest(results):
    """Reader v9 marks an answer uncertain below its calibration's ``sure`` score
    (0.746): on the development set 22 of 120 answers, right 0.23 of the time against
    0.78 for the rest (EVALUATION.md, "Uncertain answers"); on its 226 rows 26 of 189,
    0.23 against 0.69. A wrong answer is one to an unanswerable row, or one without the
    expected phrase and source."""
    _, rows, answers = results
    given = [(r, a) for r, a in zip(rows, answers) if not a.refused]
    unsure = [evalsets.correct(r, a) for r, a in given if a.uncertain]
    sure = [evalsets.correct(r, a) for r, a in given if not a.uncertain]
    assert len(unsure) >= 12 and len(sure) >= 70
    assert sum(unsure) / len(unsure) <= 0.40 and sum(sure) / len(sure) >= 0.62
    # each offers other passages to read; a sure answer none
    assert all(a.related for _, a in given if a.uncertain) and not any(a.related for _, a in given if not a.uncertain)


def test_english_questions_are_answered_through_their_gloss(results):
    """English rows are glossed with the retrieved passages' Arabic words
    (rag/answer/crosslingual.py): 20 of 28 answered correctly, against 11 of 28
    read as English, and 5 of 11 English unanswerable rows refused, against 8
    (EVALUATION.md, "English questions glossed"). With words aligned in context
    first, on 63 rows: 41 answered correctly, against 30 without, and 8 of 22
    refused either way (EVALUATION.md, "English questions aligned"); with "how
    many" and "how old" glossed as the count and age they ask, 40 and 11 of 22
    (EVALUATION.md, "English questions read ahead"). The answer keeps the
    question as typed."""
    _, rows, answers = results
    english = [(r, a) for r, a in zip(rows, answers) if is_english(r.question) and not r.history]
    answerable = [evalsets.correct(r, a) for r, a in english if r.answerable]
    refused = [evalsets.correct(r, a) for r, a in english if not r.answerable]
    assert len(answerable) >= 63 and sum(answerable) >= 37
    assert len(refused) >= 22 and sum(refused) >= 9
    assert all(a.question == r.question for r, a in english)
