"""Sentence spans of a source text, for quoting.

A sentence ends at a line break, or at . ! ? ؟ followed by space (closing
quotes and brackets stay with it), so "97.4" and "U.S." inside a line do not
split. Spans are offsets into the text: ``text[start:end]`` is the sentence,
stripped of surrounding spaces and list bullets.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_END = re.compile(r"[.!?؟]+[\"'”»)\]]*(?=\s|$)|\n")
_LEAD = re.compile(r"^[\s\-*•#>]+")
MIN_CHARS = 12  # shorter pieces ("**", "2025:") are not worth quoting alone


def split_sentences(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end() if m.group() != "\n" else m.start()
        _add(text, start, end, spans)
        start = m.end()
    _add(text, start, len(text), spans)
    return spans


def _add(text: str, start: int, end: int, spans: list) -> None:
    piece = text[start:end]
    lead = _LEAD.match(piece)
    if lead:
        start += lead.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start >= MIN_CHARS:
        spans.append((start, end))


@dataclass(frozen=True)
class Sentence:
    source_id: str
    start: int
    end: int
    text: str
