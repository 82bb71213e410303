"""Sources: the articles Sanad answers from, read from a folder.

Supported: ``.txt`` and ``.md``, UTF-8, each optionally opening with a YAML
front matter block (``---`` ... ``---``) whose keys become metadata. The body
is kept verbatim apart from line endings (CRLF -> LF) and surrounding blank
space; every offset in the index refers to ``Source.text``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml

from .errors import SourceError

SUFFIXES = (".txt", ".md")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)
MAX_TITLE_CHARS = 120


@dataclass(frozen=True)
class Source:
    id: str  # file name without suffix; unique within a folder
    title: str
    text: str
    path: str
    sha256: str  # of the file's bytes: the index re-embeds a source when it changes
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SourceScan:
    """What a folder holds: the readable sources and the files that are not."""

    sources: tuple[Source, ...]
    errors: tuple[SourceError, ...]
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate path, first path)


def parse_source(path: Path, data: bytes) -> Source:
    """Build a Source from a file's bytes, or raise SourceError naming it."""
    if not data.strip():
        raise SourceError(path, "the file is empty")
    if b"\x00" in data[:8192]:
        raise SourceError(path, "the file is binary, not text")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SourceError(path, f"the file is not UTF-8 text (invalid byte at position {e.start})") from None
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")

    meta: dict[str, object] = {}
    m = _FRONT_MATTER.match(raw)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1) or "") or {}
        except yaml.YAMLError as e:
            raise SourceError(path, f"the front matter is not valid YAML ({e.problem or e})") from None
        if not isinstance(loaded, dict):
            raise SourceError(path, "the front matter is not a set of key: value pairs")
        meta = {str(k): v for k, v in loaded.items()}
        raw = raw[m.end():]
    text = raw.strip()
    if not text:
        raise SourceError(path, "the file has no article text")

    title = str(meta.get("title") or "").strip()
    if not title:
        first = text.split("\n", 1)[0].strip().lstrip("#").strip()
        title = first if 0 < len(first) <= MAX_TITLE_CHARS else path.stem
    return Source(
        id=path.stem,
        title=title,
        text=text,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        meta=MappingProxyType(meta),
    )


def scan_sources(folder: Path) -> SourceScan:
    """Read every supported file in ``folder`` (not recursive, sorted by name).

    Unreadable files are reported in ``errors``, never fatal: the others are
    still returned. Byte-identical files are indexed once.
    """
    folder = Path(folder)
    sources, errors, dups = [], [], []
    seen: dict[str, Source] = {}
    ids: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.name.lower() == "readme.md":
            continue
        if path.suffix.lower() not in SUFFIXES:
            errors.append(SourceError(path, f"unsupported file type '{path.suffix or '(none)'}' (use .txt or .md)"))
            continue
        if path.stem in ids:
            errors.append(SourceError(path, f"another file has the same name: {ids[path.stem].name}"))
            continue
        try:
            source = parse_source(path, path.read_bytes())
        except SourceError as e:
            errors.append(e)
            continue
        except OSError as e:
            errors.append(SourceError(path, f"cannot be read ({e.strerror})"))
            continue
        ids[path.stem] = path
        if source.sha256 in seen:
            dups.append((source.path, seen[source.sha256].path))
            continue
        seen[source.sha256] = source
        sources.append(source)
    return SourceScan(tuple(sources), tuple(errors), tuple(dups))
