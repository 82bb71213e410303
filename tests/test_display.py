"""Stored Markdown shown as prose (rag/ingest/display.py), offsets untouched."""
import pytest

from rag.ingest.display import markup, prose
from conftest import SOURCES

FEUD = (SOURCES / "musk-altman-feud-overview.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("raw, shown", [
    ("### علاقة إيلون ماسك وسام ألتمان", "علاقة إيلون ماسك وسام ألتمان"),
    ("- **2023: إطلاق ماسك xAI و Grok**: نعم", "2023: إطلاق ماسك xAI و Grok: نعم"),
    ("  - فبراير: حاول ماسك شراء OpenAI", "فبراير: حاول ماسك شراء OpenAI"),
    ("- [Inside the Feud](https://builtin.com/a-b)", "Inside the Feud"),
    ("> قال ماسك", "قال ماسك"),
    ("سعر السهم - وفق التقرير - ارتفع 5*3", "سعر السهم - وفق التقرير - ارتفع 5*3"),  # prose dashes stay
    ("بلغ 50 ألف دولار.\n---\nثم", "بلغ 50 ألف دولار.\n\nثم"),
    ("عاد ماسك (Elon_Musk) إلى `X`", "عاد ماسك (Elon_Musk) إلى X"),
])
def test_markup_is_hidden_and_words_are_kept(raw, shown):
    assert prose(raw, 0, len(raw)) == shown


def test_slices_are_shown_piecewise_exactly_as_the_whole():
    """Any cut into three slices shows, joined, what the whole shows: a
    highlight placed by source offsets keeps the same words."""
    text = FEUD
    whole = prose(text, 0, len(text))
    assert "###" not in whole and "**" not in whole and "\n- " not in whole
    for a in range(0, len(text), 97):
        for b in range(a, min(len(text), a + 400), 61):
            assert prose(text, 0, a) + prose(text, a, b) + prose(text, b, len(text)) == whole


def test_markup_spans_are_sorted_disjoint_and_only_markup_characters():
    spans = markup(FEUD)
    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:]))
    hidden = "".join(FEUD[a:b] for a, b in spans)
    assert set(hidden) <= set("#*-_>+ \t`[]()") | set("".join(FEUD[a:b] for a, b in spans if FEUD[a] == "]"))
