"""Split sources into overlapping chunks that remember where they came from.

The splitting is LangChain's RecursiveCharacterTextSplitter with separators
that fit Arabic prose: paragraphs, lines, then sentence ends (. ؟ ? !), then
clause marks (؛ ،), then words. Each chunk keeps exact character offsets into
its source, so ``source.text[chunk.start:chunk.end] == chunk.text`` always.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..errors import ConfigError
from .sources import Source

SEPARATORS = ("\n\n", "\n", ". ", "؟", "?", "!", "؛", ";", "،", ",", " ", "")


@dataclass(frozen=True)
class Chunk:
    id: str  # "<source id>#<n>"
    source_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ChunkSettings:
    # 500/75 characters: measured on ARCD and MLQA articles (benchmarks/
    # chunk_sizes.py, BENCHMARKS.md), the best or near-best gold-passage
    # recall in the top 3 (0.859 / 0.743) while keeping recall within a fixed
    # 2,000-character reading budget close to the smallest chunks'.
    size: int = 500
    overlap: int = 75

    def __post_init__(self):
        if self.size < 50:
            raise ConfigError(f"chunk size must be at least 50 characters (got {self.size})")
        if not 0 <= self.overlap < self.size:
            raise ConfigError(f"chunk overlap must be between 0 and the chunk size (got {self.overlap})")

    def to_json(self) -> dict:
        return {"size": self.size, "overlap": self.overlap, "separators": list(SEPARATORS),
                "splitter": "langchain_text_splitters.RecursiveCharacterTextSplitter"}


def text_splitter(settings: ChunkSettings):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=list(SEPARATORS),
        keep_separator="end",  # the full stop stays with its sentence
        chunk_size=settings.size,
        chunk_overlap=settings.overlap,
        strip_whitespace=True,
    )


def locate(text: str, pieces: Iterable[str], overlap: int) -> list[tuple[int, int]]:
    """Character spans of consecutive pieces of ``text``.

    Pieces come in order and may overlap by up to ``overlap`` characters, so
    each is searched from just before where the previous one ended.
    """
    spans, cursor = [], 0
    for piece in pieces:
        start = text.find(piece, max(0, cursor - overlap))
        if start < 0:  # cannot happen for a splitter that only cuts and strips
            raise ValueError(f"chunk not found in its source: {piece[:40]!r}")
        spans.append((start, start + len(piece)))
        cursor = start + len(piece)
    return spans


def chunk_source(source: Source, settings: ChunkSettings, splitter=None) -> list[Chunk]:
    splitter = splitter or text_splitter(settings)
    pieces = [p for p in splitter.split_text(source.text) if p.strip()]
    return [
        Chunk(f"{source.id}#{i}", source.id, start, end, source.text[start:end])
        for i, (start, end) in enumerate(locate(source.text, pieces, settings.overlap))
    ]


def chunk_sources(sources: Iterable[Source], settings: ChunkSettings) -> list[Chunk]:
    splitter = text_splitter(settings)
    return [c for s in sources for c in chunk_source(s, settings, splitter)]
