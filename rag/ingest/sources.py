"""Sources: the articles Sanad answers from, read from a folder.

* ``.txt`` and ``.md``, UTF-8, each optionally opening with a YAML front
  matter block (``---`` ... ``---``) whose keys become metadata. The body is
  kept verbatim apart from line endings (CRLF -> LF) and surrounding blank
  space;
* ``.html``/``.htm`` saved pages, ``.pdf`` text PDFs: the article's text and
  metadata as rag/ingest/formats.py extracts them;
* ``.jsonl`` exports: one article per line, each its own Source
  (``<file>-<id>``, or ``<file>-<line>`` without an ``id``).

Every offset in the index refers to ``Source.text``, the stored (extracted)
text. A file that cannot be read, or a JSONL line, is a warning naming it;
the rest are still read.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Protocol

import yaml

from . import formats
from ..errors import SourceError

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + (".html", ".htm", ".pdf", ".jsonl")
MAX_TEXT_BYTES = 10 * 1024 * 1024
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(?:\n|\Z)", re.DOTALL)
MAX_TITLE_CHARS = 120


@dataclass(frozen=True)
class Source:
    id: str  # file name without suffix (a JSONL line: file-id); unique within a folder
    title: str
    text: str
    path: str
    sha256: str  # of its bytes (and extractor version): the index re-embeds a source when it changes
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SourceScan:
    """What a folder holds: the readable sources and the files that are not."""

    sources: tuple[Source, ...]
    errors: tuple[SourceError, ...]
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate path, first path)
    # {file name: [reason, ...]}: what reading a file that did give sources warned about (bad JSONL
    # lines...), kept in the index manifest so a rebuild that does not read the file again still says it
    file_warnings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def source_date(source: Source) -> str:
    """The article's publication date as ``YYYY-MM-DD`` (or as given), or ""."""
    value = source.meta.get("date")
    return str(value)[:10] if value else ""


def source_url(source: Source) -> str:
    """The original article's address, only if it is an http(s) URL."""
    url = str(source.meta.get("url") or "").strip()
    return url if re.match(r"https?://[^\s\"'<>]+$", url) else ""


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

    return Source(
        id=path.stem,
        title=_titled(text, meta, path.stem),
        text=text,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        meta=MappingProxyType(meta),
    )


def _titled(text: str, meta: dict, fallback: str) -> str:
    title = str(meta.get("title") or "").strip()
    if not title:
        first = text.split("\n", 1)[0].strip().lstrip("#").strip()
        title = first if 0 < len(first) <= MAX_TITLE_CHARS else fallback
    return title[:MAX_TITLE_CHARS * 2]


def _fingerprint(kind: str, data: bytes) -> str:
    return hashlib.sha256(f"{kind}-v{formats.EXTRACTOR_VERSION}\n".encode() + data).hexdigest()


_ID_UNSAFE = re.compile(r"[^\w\-.]+")


def read_file(path: Path) -> tuple[list[Source], list[SourceError]]:
    """The sources in one file (several for a JSONL export) and the warnings
    about it. Raises SourceError when the whole file is unusable."""
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if suffix in TEXT_SUFFIXES and size > MAX_TEXT_BYTES:
        raise SourceError(path, f"the file is {size // (1024 * 1024)} MB, too large for one article "
                                f"(at most {MAX_TEXT_BYTES // (1024 * 1024)} MB)")
    data = path.read_bytes()
    if suffix in TEXT_SUFFIXES:
        return [parse_source(path, data)], []
    if not data.strip():
        raise SourceError(path, "the file is empty")
    if suffix == ".jsonl":
        sources, warnings, seen = [], [], set()
        for n, got, rid, line in formats.jsonl_records(data):
            if isinstance(got, formats.FormatError):
                warnings.append(SourceError(path, str(got)))
                continue
            sid = f"{path.stem}-{_ID_UNSAFE.sub('_', rid) if rid else n}"
            if sid in seen:
                warnings.append(SourceError(path, f"line {n}: the id {rid!r} was used by an earlier line"))
                continue
            seen.add(sid)
            meta = dict(got.meta)
            if rid:
                meta["id"] = rid
            sources.append(Source(sid, _titled(got.text, meta, sid), got.text, str(path),
                                  _fingerprint("jsonl", line), MappingProxyType(meta)))
        if not sources and warnings:
            raise SourceError(path, f"no usable line ({warnings[0].reason})")
        return sources, warnings
    try:
        got = formats.html(data) if suffix in (".html", ".htm") else formats.pdf(data)
    except formats.FormatError as e:
        raise SourceError(path, str(e)) from None
    meta = dict(got.meta)
    return [Source(path.stem, _titled(got.text, meta, path.stem), got.text, str(path),
                   _fingerprint(suffix.lstrip("."), data), MappingProxyType(meta))], []


def _candidates(folder: Path) -> list[Path]:
    """The files ``scan_sources`` reads or reports, sorted by name."""
    # sorted by name string: comparing Path objects cost 2.7 s for 100,000 files (bench_archive.py)
    return [path for path in sorted(Path(folder).iterdir(), key=lambda p: p.name)
            if not path.name.startswith(".") and path.is_file() and path.name.lower() != "readme.md"]


# A file whose size and mtime are as recorded is taken as unchanged only if it was last modified
# this long before it was hashed: a write within the same timestamp tick as the hashing would
# otherwise keep its size and mtime and go unseen (git's "racy clean" problem).
RACY_NS = 2_000_000_000


def file_record(folder: Path, previous: Mapping | None = None) -> dict:
    """What an index records of its folder's article files, so that checking
    the index against the folder extracts nothing (a saved page or a PDF
    takes far longer to extract than to hash):

    * ``files``: {file name: sha256 of its bytes, tagged with the extractor
      version} (unreadable files: "");
    * ``file_stats``: {file name: [size, mtime in ns]}, taken before hashing;
    * ``files_checked_at``: when hashing began (ns).

    With the ``previous`` record, a file whose size and mtime it recorded is
    not hashed again: its recorded hash is reused (100,000 files took 11 s
    to hash at each check; benchmarks/bench_archive.py)."""
    previous = previous or {}
    old_hashes, old_stats = previous.get("files") or {}, previous.get("file_stats") or {}
    trusted_before = int(previous.get("files_checked_at") or 0) - RACY_NS
    record: dict = {"files": {}, "file_stats": {}, "files_checked_at": time.time_ns()}
    for path in _candidates(folder):
        if path.suffix.lower() not in SUFFIXES:
            continue
        try:
            st = path.stat()
        except OSError:
            record["files"][path.name] = ""
            continue
        stat = [st.st_size, st.st_mtime_ns]
        record["file_stats"][path.name] = stat
        old = old_hashes.get(path.name)
        if old and old_stats.get(path.name) == stat and st.st_mtime_ns < trusted_before:
            record["files"][path.name] = old
            continue
        h = hashlib.sha256(f"v{formats.EXTRACTOR_VERSION}\n".encode())
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            record["files"][path.name] = ""
            continue
        record["files"][path.name] = h.hexdigest()
    return record


def file_fingerprints(folder: Path) -> dict[str, str]:
    """{file name: sha256 of its bytes} of every article file (``file_record``)."""
    return file_record(folder)["files"]


# What a previous build already extracted from an unchanged file: its sources and warnings.
Known = Callable[[Path], "tuple[list[Source], list[SourceError]] | None"]


def scan_sources(folder: Path, known: Known | None = None) -> SourceScan:
    """Read every supported file in ``folder`` (not recursive, sorted by name).

    Unreadable files (and JSONL lines) are reported in ``errors``, never
    fatal: the others are still returned. Byte-identical articles are
    indexed once. ``known(path)``, when it answers, gives a file's sources
    and warnings without reading it (a build reuses what the previous one
    extracted from files whose bytes did not change).
    """
    folder = Path(folder)
    sources, errors, dups = [], [], []
    warned: dict[str, tuple[str, ...]] = {}
    seen: dict[str, Source] = {}
    ids: dict[str, Path] = {}
    for path in _candidates(folder):
        if path.suffix.lower() not in SUFFIXES:
            errors.append(SourceError(path, f"unsupported file type '{path.suffix or '(none)'}' "
                                            f"(use {', '.join(SUFFIXES)})"))
            continue
        if path.stem in ids:
            errors.append(SourceError(path, f"another file has the same name: {ids[path.stem].name}"))
            continue
        try:
            reused = known(path) if known else None
            found, warnings = reused if reused is not None else read_file(path)
        except SourceError as e:
            errors.append(e)
            continue
        except OSError as e:
            errors.append(SourceError(path, f"cannot be read ({e.strerror})"))
            continue
        errors += warnings
        if warnings:
            warned[path.name] = tuple(w.reason for w in warnings)
        ids[path.stem] = path
        for source in found:
            if source.id in ids and ids[source.id] != path:
                errors.append(SourceError(path, f"the article id {source.id!r} is also a file name"))
                continue
            if source.sha256 in seen:
                dups.append((source.path, seen[source.sha256].path))
                continue
            seen[source.sha256] = source
            sources.append(source)
    return SourceScan(tuple(sources), tuple(errors), tuple(dups), warned)


class Loader(Protocol):
    """Where a build's sources come from (rag/index/build.py)."""

    def fingerprint(self, previous: Mapping | None = None) -> dict:
        """A cheap record of what the sources are made of, kept in the
        manifest: at least ``files`` ({name: hash}), which changes whenever a
        source does (``source_problems``). ``previous`` is the last record,
        which may spare work."""
        ...

    def scan(self, known: Known | None = None) -> SourceScan:
        """The sources, and warnings about what could not be read;
        ``known`` may answer for files a previous build already read."""
        ...


@dataclass(frozen=True)
class FolderLoader:
    """The articles in a folder: every supported file (``scan_sources``)."""

    folder: Path

    def fingerprint(self, previous: Mapping | None = None) -> dict:
        return file_record(self.folder, previous)

    def scan(self, known: Known | None = None) -> SourceScan:
        return scan_sources(self.folder, known)


@dataclass(frozen=True)
class SourceList:
    """Sources already in memory, e.g. the paragraphs of an evaluation set
    (rag/eval/evaluate.py), with no folder behind them."""

    sources: tuple[Source, ...]

    def fingerprint(self, previous: Mapping | None = None) -> dict:
        return {"files": {s.id: s.sha256 for s in self.sources}}

    def scan(self, known: Known | None = None) -> SourceScan:
        seen: dict[str, Source] = {}
        dups = []
        for s in self.sources:
            if s.sha256 in seen:
                dups.append((s.id, seen[s.sha256].id))
            else:
                seen[s.sha256] = s
        return SourceScan(tuple(seen.values()), (), tuple(dups))
