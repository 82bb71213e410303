from rag.answer.compose import NOT_IN_SOURCES, ExtractiveComposer
from rag.answer.decision import RuleDecider
from rag.answer.settings import Thresholds
from rag.answer.evidence import Evidence
from rag.answer.question import analyze
from rag.ingest.sentences import Sentence
from rag.text import tokenize

TEXT = ("حجز ألتمان سيارة رودستر عام 2018 مقابل رسوم حجز بلغت 50 ألف دولار. "
        "ردّ ماسك بتعليق لاذع. وأعادت تيسلا المبلغ خلال 24 ساعة.")


def ev(fragment, dense=0.85, cov=0.8, ctx=0.8, type_ok=True, source="s", novelty=1.0, continuation=None):
    start = TEXT.index(fragment)
    s = Sentence(source, start, start + len(fragment), fragment)
    return Evidence(s, "عنوان", dense, cov, ctx, type_ok, tuple(tokenize(fragment)), 0, novelty, continuation)


Q = analyze("كم بلغت رسوم حجز سيارة رودستر؟")


def compose(evidence, thresholds=None):
    """The earlier rules deciding, the extractive composer writing."""
    return ExtractiveComposer().compose(Q, RuleDecider(thresholds).decide(Q, evidence))
FEE = "حجز ألتمان سيارة رودستر عام 2018 مقابل رسوم حجز بلغت 50 ألف دولار."
REPLY = "ردّ ماسك بتعليق لاذع."
REFUND = "وأعادت تيسلا المبلغ خلال 24 ساعة."


def test_leads_with_the_best_supported_sentence_and_cites_it_verbatim():
    a = compose([ev(REPLY, dense=0.80, cov=0.3, ctx=0.7), ev(FEE, dense=0.88)])
    assert not a.refused and a.answer.startswith(FEE) and a.answer.split()[-1] == "[1]"
    c = a.citations[0]
    assert (c.n, c.source, c.text) == (1, "s", FEE) and TEXT[c.start:c.end] == c.text


def test_refuses_without_enough_coverage_and_offers_related_reading():
    a = compose([ev(FEE, ctx=0.4), ev(REFUND, ctx=0.3, source="t")])
    assert a.refused and a.answer == NOT_IN_SOURCES and not a.citations
    assert [c.source for c in a.related] == ["s", "t"]  # one passage per article


def test_refuses_when_the_kind_of_answer_is_missing():
    a = compose([ev(REPLY, type_ok=False, dense=0.9, cov=1, ctx=1)])
    assert a.refused


def test_refuses_below_the_similarity_floor():
    assert compose([ev(FEE, dense=0.79)], Thresholds(min_dense=0.8)).refused


def test_adds_a_second_sentence_only_if_close_and_not_redundant():
    a = compose([ev(FEE, dense=0.88), ev(REFUND, dense=0.86, source="t")])
    assert [c.n for c in a.citations] == [1, 2] and "[2]" in a.answer
    same = compose([ev(FEE, dense=0.88), ev(FEE, dense=0.87, source="t")])
    assert len(same.citations) == 1  # the same fact from two chunks is said once
    far = compose([ev(FEE, dense=0.95), ev(REFUND, dense=0.80, source="t")])
    assert len(far.citations) == 1


def test_a_sentence_that_only_restates_the_question_brings_the_next_one():
    nxt = Sentence("s", TEXT.index(REPLY), TEXT.index(REPLY) + len(REPLY), REPLY)
    a = compose([ev(FEE, novelty=0.1, continuation=nxt)])
    assert [c.text for c in a.citations] == [FEE, REPLY]


def test_no_evidence_is_a_refusal():
    assert compose([]).refused
