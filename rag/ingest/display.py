"""How stored text is shown to a reader: Markdown markup hidden, offsets kept.

Sources are stored and cited verbatim (``text == source.text[start:end]``),
so a passage from a Markdown article carries its markup: "### علاقة إيلون
ماسك…", "- **2023: إطلاق ماسك xAI**". The page shows such passages as prose.
Rather than rewrite the text (which would move every offset), ``markup``
finds the characters that are markup, and ``prose`` shows a slice of the
source without them, so highlights computed on source offsets still fall on
the same words. Pure functions; nothing here is used for matching or stored.
"""
from __future__ import annotations

import bisect
import re
from functools import lru_cache

# Each pattern's groups (or, without groups, its whole match) are markup.
_LINE_MARKUP = re.compile(
    r"^[ \t]*(?:"
    r"#{1,6}[ \t]+"  # ATX heading: "### title"
    r"|[-*+][ \t]+(?=\S)"  # list item: "- text", "  * text"
    r"|>[ \t]?"  # block quote
    r")", re.M)
_RULE = re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", re.M)  # a horizontal rule line
_EMPHASIS = re.compile(r"\*\*|__|`")  # bold and inline code markers
_LINK = re.compile(r"(\[)[^\]\n]+(\]\([^)\s]+\))")  # [text](url): the text stays


@lru_cache(maxsize=64)
def markup(text: str) -> tuple[tuple[int, int], ...]:
    """The (start, end) spans of ``text`` that are Markdown markup, sorted
    and not overlapping."""
    spans = [m.span() for m in _LINE_MARKUP.finditer(text) if m.end() > m.start()]
    spans += [m.span() for m in _RULE.finditer(text)]
    spans += [m.span() for m in _EMPHASIS.finditer(text)]
    for m in _LINK.finditer(text):
        spans += [m.span(1), m.span(2)]
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


def prose(text: str, lo: int, hi: int) -> str:
    """``text[lo:hi]`` without its markup characters (as found in the whole
    of ``text``, so a "**" split across two slices is still recognized)."""
    spans = markup(text)
    out, at = [], lo
    for a, b in spans[max(0, bisect.bisect_right(spans, (lo, lo)) - 1):]:
        if a >= hi:
            break
        if b <= at:
            continue
        if a > at:
            out.append(text[at:a])
        at = max(at, b)
    if at < hi:
        out.append(text[at:hi])
    return "".join(out)
