"""Evidence tables (rag/answer/evidence.py): computed per sentence when asked, equal to computing them all."""
import pytest

from rag.index import index as ix
from rag.answer.evidence import PerItem, SentenceTable, _quotable
from rag.answer.grounding import TermSet
from rag.text import tokenize


def test_per_item_computes_each_item_once_and_only_when_asked():
    calls = []
    items = PerItem(5, lambda i: calls.append(i) or i * i)
    assert len(items) == 5 and calls == []
    assert items[3] == 9 and items[3] == 9 and items[-1] == 16
    assert calls == [3, 4]
    with pytest.raises(IndexError):
        items[5]


def test_lazy_tables_equal_the_whole_computation(fake_sanad):
    index = fake_sanad.index
    table = SentenceTable(index)
    for i, s in enumerate(index.sentences):
        assert table.tokens[i] == tuple(tokenize(s.text))
        assert table.term_sets[i] == TermSet.of(tokenize(s.text))
        assert table.quotable[i] == _quotable(s.text)
    for pos, c in enumerate(index.chunks):
        assert table.by_chunk[pos] == [i for i, s in enumerate(index.sentences)
                                       if s.source_id == c.source_id and s.start < c.end and c.start < s.end]
        assert table.by_chunk[pos]  # every chunk holds part of a sentence
    assert isinstance(index, ix.Index)


@pytest.mark.parametrize("question", ["كم دفع ألتمان لحجز سيارة رودستر؟", "ما عاصمة أستراليا؟",
                                      "متى أُسست شركة xAI؟"])
def test_source_coverage_reads_the_whole_article(fake_sanad, question):
    """Each candidate's article coverage is the question's coverage by every
    word of its article, so it is never below the coverage of the sentence
    with its neighbours and title."""
    from rag.answer.grounding import coverage

    trace = fake_sanad.run(question)
    table = fake_sanad.table
    assert trace.evidence
    for e in trace.evidence:
        sid = e.sentence.source_id
        words = TermSet.of(tokenize(fake_sanad.index.sources[sid].title))
        for s in fake_sanad.index.sentences:
            if s.source_id == sid:
                words = words | TermSet.of(tokenize(s.text))
        terms = dict.fromkeys(trace.question.content, 1.0)
        assert e.source_coverage == pytest.approx(coverage(terms, words, table.idf))
        assert e.source_coverage >= e.context_coverage - 1e-9


def test_source_terms_keep_only_the_most_recently_used(fake_sanad, monkeypatch):
    from rag.answer import evidence

    monkeypatch.setattr(evidence, "SOURCE_TERMS_KEPT", 2)
    table = SentenceTable(fake_sanad.index)
    a, b, c = sorted(fake_sanad.index.sources)[:3]
    first = table.source_terms(a)
    table.source_terms(b)
    assert table.source_terms(a) is first  # kept, and now the most recent
    table.source_terms(c)  # b, the least recently used, goes
    assert set(table._sources) == {a, c}
    assert table.source_terms(b) == TermSet.of(
        tokenize(fake_sanad.index.sources[b].title) + tokenize(fake_sanad.index.sources[b].text))


def test_an_articles_words_from_the_store_equal_its_sentences_words(config, fake):
    """Source coverage reads an article's words from the BM25 term counts
    stored with its chunks: the words of its whole text (its sentences', and
    a line no sentence holds, such as a "### المراجع" heading)."""
    from rag.answer.evidence import SentenceTable
    from rag.answer.grounding import TermSet
    from rag.index import build as bx
    from rag.index import index as ix

    bx.build(config, fake)
    index = ix.load(config)
    table = SentenceTable(index)
    from rag.text import tokenize

    for sid, source in index.sources.items():
        lo, hi = table._source_ranges[sid]
        assert set(index.source_tokens(sid)) == set(tokenize(source.text))
        assert set(index.source_tokens(sid)) >= {t for i in range(lo, hi) for t in table.tokens[i]}
        assert table.source_terms(sid) == TermSet.of(tokenize(source.text)) | table.title_terms(sid)
    # an index that is only in memory (the evaluation's "article removed") still has them
    some = next(iter(index.sources))
    assert index.without([some]).source_tokens(next(s for s in index.sources if s != some))


def test_an_arabic_name_retrieves_the_article_that_writes_it_in_latin(fake_sanad):
    """إنفيديا: one article writes it in Arabic, the one that says how much
    Nvidia invested writes it in Latin; both are retrieved, and the Latin
    sentence covers the name."""
    table = fake_sanad.table
    assert table.latin_spellings(["انفيديا", "ضخت"]) == ["nvidia"]
    assert table.latin_spellings(["نفوذ"]) == []  # influence, not Nvidia
    df = table.document_frequencies
    assert table.latin_spellings(["ماسك"]) == [] and df["ماسك"] > df["musk"]  # the articles say ماسك
    trace = fake_sanad.run("كم ضخت إنفيديا؟")
    assert {"musk-empire-ai-capital-race", "musk-stargate-uae"} <= {h.chunk.source_id for h in trace.hits}
    nvidia = [e for e in trace.evidence if "Nvidia" in e.sentence.text]
    assert nvidia and all(e.coverage > 0 for e in nvidia)


def test_latin_spellings_filed_by_skeleton_equal_a_search_of_the_whole_vocabulary(fake_sanad):
    from rag.answer.transliteration import arabic_keys, latin_keys

    table = fake_sanad.table
    df = table.document_frequencies
    latin = [v for v in table.vocabulary if v.isascii()]
    arabic = [t for t in table.vocabulary if arabic_keys(t)]
    assert len(arabic) > 100
    found = 0
    for t in arabic:
        expected = sorted(v for v in latin if arabic_keys(t) & latin_keys(v) and df[v] >= df[t])
        assert table.latin_spellings([t]) == expected, t
        found += bool(expected)
    assert found >= 3  # إنفيديا, and a few more the articles write in both scripts
