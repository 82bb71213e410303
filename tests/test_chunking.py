from hypothesis import given, settings, strategies as st

from rag.ingest.chunking import ChunkSettings, chunk_source, chunk_sources, locate
from rag.ingest.sources import Source, scan_sources
from conftest import SOURCES

ARABIC_WORDS = ["ماسك", "ألتمان", "الذكاءُ", "الاصطناعي", "OpenAI", "97.4", "مليار،", "دولار.", "هل؟", "نعم!",
                "٢٠٢٥", "xAI؛", "ـــ", "\n", "\n\n", " "]


def _check(source, settings):
    chunks = chunk_source(source, settings)
    for c in chunks:
        assert source.text[c.start:c.end] == c.text
        assert c.text.strip() == c.text and c.text
        assert len(c.text) <= settings.size
    return chunks


def test_offsets_invariant_on_the_real_corpus():
    sources = scan_sources(SOURCES).sources
    chunks = chunk_sources(sources, ChunkSettings())
    by_id = {s.id: s for s in sources}
    assert len(chunks) > len(sources)
    for c in chunks:
        assert by_id[c.source_id].text[c.start:c.end] == c.text
    assert len({c.id for c in chunks}) == len(chunks)


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.sampled_from(ARABIC_WORDS), min_size=1, max_size=400),
       size=st.integers(50, 400), overlap_frac=st.floats(0, 0.5))
def test_offsets_invariant_on_generated_arabic(words, size, overlap_frac):
    text = " ".join(words).strip() or "نص"
    _check(Source("s", "t", text, "", ""), ChunkSettings(size, int(size * overlap_frac)))


def test_sentences_end_at_arabic_punctuation():
    text = ("جملة أولى طويلة بعض الشيء؟ " * 6) + ("جملة ثانية تنتهي بنقطة. " * 6)
    for c in _check(Source("s", "t", text, "", ""), ChunkSettings(80, 0)):
        assert c.text[-1] in "؟." or c.end == len(text)


def test_locate_handles_repeated_text():
    text = "نعم. نعم. نعم."
    assert locate(text, ["نعم.", "نعم.", "نعم."], 0) == [(0, 4), (5, 9), (10, 14)]
