"""Building the index: plan -> embed and append -> write -> publish.

1. plan: which sources keep their rows in the store, which rows are copied
   (a renamed file; a compaction), which sources are chunked and embedded;
2. embed and append: the new sources chunked and embedded a batch at a time,
   here or on a Ray cluster (``rag/index/embedding.py`` jobs,
   ``rag/index/ray_embedding.py``), and their rows appended to the store
   (``rag/index/store.py``) before the next batch, so memory holds one batch
   of chunks and vectors, not the archive's (``BATCH_CHARS``);
3. write: the previous FAISS indexes grown by the appended rows, BM25
   recomputed from the stored term counts, and a manifest naming the live
   rows, in a new generation folder;
4. publish: the ``current`` symlink swapped in one atomic rename, and
   generations and stores no generation needs any more removed.

Only one build runs at a time per index folder (``build_lock``). A crash at
any step leaves the previous generation live (``rag/index/index.py`` explains the
layout on disk).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import ann
from .bm25 import from_terms, gather_terms
from ..ingest.chunking import Chunk, chunk_source
from ..config import Config
from .embedding import EmbedJob, EmbedResult, JobRunner, LocalRunner
from ..errors import ConfigError, IndexCorrupt, IndexLocked, IndexMissing, SanadError, SourceError
from .index import (COMPACT_DEAD, CURRENT, FORMAT_VERSION, current_generation, generation_manifest, live_rows,
                    manifest_problems, open_store, read_manifest, source_problems)
from ..ingest.sentences import Sentence, split_sentences
from ..ingest.sources import SUFFIXES, FolderLoader, Known, Loader, Source, SourceScan
from .store import Appender, FileRows, Store, StoreState
from .store import new_name as new_store_name
from ..text import TEXT_VERSION, is_verbatim, tokenize

Progress = Callable[[str, int, int], None]  # (stage, done, total)
# Text chunked and embedded per batch before its rows are appended: ~100,000 chunks of 500
# characters (their vectors and their sentences' ~0.5 GB). Holding a whole 100,000-article
# archive's rows until the end took 15 GB (BENCHMARKS.md, "100,000 articles").
# On Ray each batch is one RayRunner.run, which starts its actors (and loads the model in each)
# again: ~10 batches at 1M chunks; not measured on a real cluster.
BATCH_CHARS = 50_000_000


@dataclass(frozen=True)
class BuildReport:
    path: Path
    sources: int
    chunks: int
    embedded: tuple[str, ...]  # source ids (re-)embedded in this build
    reused: tuple[str, ...]  # unchanged sources whose vectors were kept
    removed: tuple[str, ...]
    skipped: tuple[SourceError, ...]  # unreadable files, not indexed
    duplicates: tuple[tuple[str, str], ...]
    seconds: float
    embedded_chunks: int = 0


def _json_default(value):
    return str(value)  # dates and other YAML scalars in front matter


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Only one build at a time per index folder (advisory flock; released by
    the kernel if the process dies)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexLocked(f"another 'rag index' is already building {index_dir}; "
                              "wait for it to finish and try again") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True, eq=False)
class _Entry:
    """One source's rows still to be written to the store."""

    source: Source
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray | None = None  # None: still to embed
    sentence_vectors: np.ndarray | None = None


class _Previous:
    """The live generation a build starts from, if it is usable: the same
    settings, and a store whose files hold what its manifest says."""

    def __init__(self, gen: Path, manifest: dict, store: Store):
        self.gen, self.manifest, self.store = gen, manifest, store
        self.by_sha = {e["sha256"]: (sid, e) for sid, e in manifest["sources"].items()}
        self._chunks: list[Chunk] | None = None
        self._spans: list[tuple[str, int, int]] | None = None

    @classmethod
    def find(cls, config: Config) -> "_Previous | None":
        try:
            gen = current_generation(config.index_dir)
            manifest = generation_manifest(gen)
            if manifest_problems(manifest, config):
                return None
            store = open_store(config.index_dir, manifest)
            store.verify()
            return cls(gen, manifest, store)
        except (SanadError, OSError, ValueError, KeyError, TypeError):
            return None

    def known(self, files: dict) -> Known:
        """What this generation extracted from each file whose bytes (and
        extractor version) did not change since: its sources, read back from
        the store, and the warnings it gave. Spares a rebuild re-extracting
        every saved page and PDF; the sources are loaded in one pass."""
        old = self.manifest.get("files") or {}
        same = {name for name, h in (files.get("files") or {}).items() if h and old.get(name) == h}
        lines: dict[str, list[int]] = {}
        for entry in self.manifest["sources"].values():
            name = Path(entry["path"]).name
            if name in same:
                lines.setdefault(name, []).append(int(entry["line"]))
        warned = {name: w for name, w in (self.manifest.get("file_warnings") or {}).items() if name in same}
        try:
            stored = self.store.sources({n for ns in lines.values() for n in ns})
        except (OSError, ValueError, KeyError):
            stored = {}

        def known(path: Path) -> tuple[list[Source], list[SourceError]] | None:
            if path.name not in lines:
                return None  # nothing of it was kept (unreadable, a duplicate, new): read it again
            found = [stored.get(n) for n in sorted(lines.get(path.name, []))]
            if any(s is None for s in found):
                return None
            # the folder may have moved since: the sources name the file where it is now
            return ([replace(s, path=str(path)) for s in found if s is not None],
                    [SourceError(path, w) for w in warned.get(path.name, [])])

        return known

    def entry(self, source: Source, placed: dict) -> _Entry | None:
        """A kept source's rows, read back and given ``source``'s id (a
        renamed file, or a compaction); None if they no longer match its
        text (a damaged store: the source is then embedded again)."""
        if self._chunks is None:
            self._chunks, self._spans = self.store.chunks(), self.store.sentence_spans()
        assert self._spans is not None
        a, b = placed["rows"]
        c, d = placed["sentence_rows"]
        old = self._chunks[a:b]
        if not old or not all(is_verbatim(source.text, x.start, x.end, x.text) for x in old):
            return None
        return _Entry(source,
                      [Chunk(f"{source.id}#{n}", source.id, x.start, x.end, x.text) for n, x in enumerate(old)],
                      [Sentence(source.id, s, e, source.text[s:e]) for _, s, e in self._spans[c:d]],
                      np.array(self.store.array("vectors.f32")[a:b]),
                      np.array(self.store.array("sentence_vectors.f32")[c:d]))


def _rows(entry: dict) -> int:
    return int(entry["rows"][1]) - int(entry["rows"][0])


def passage_header(source: Source) -> str:
    """The first line each of ``source``'s chunks is embedded with: its title
    (``Config.passage_title``), or nothing when the title is only its id (a
    file name). Only the vectors see it; chunk texts and offsets do not."""
    title = " ".join(source.title.split())
    return f"{title}\n" if title and title != source.id else ""


def _job(entry: _Entry, late: bool, titled: bool) -> tuple[EmbedJob, dict[int, list[int]], list[int]]:
    """What to embed for one source: each sentence's vector comes from the
    first chunk that holds it whole (late chunking, when the embedder can);
    a sentence no chunk holds whole, or every sentence without late
    chunking, is embedded alone. With ``titled``, every chunk is embedded
    after its source's title line (``passage_header``), so the chunk's and
    its sentences' vectors carry the article's subject. Returns the job, the
    sentences of each chunk (by chunk) and the sentences embedded alone."""
    chunks, sentences = entry.chunks, entry.sentences
    header = passage_header(entry.source) if titled else ""
    home: dict[int, list[int]] = {}
    if late:
        ci = 0  # chunks and sentences both run in text order: one pass
        for k, x in enumerate(sentences):
            while ci < len(chunks) and chunks[ci].end < x.end:
                ci += 1
            if ci < len(chunks) and chunks[ci].start <= x.start:
                home.setdefault(ci, []).append(k)
    placed = {k for ks in home.values() for k in ks}
    alone = [k for k in range(len(sentences)) if k not in placed]
    at = len(header)  # the header comes before each chunk's first character
    spans = tuple(tuple((at + sentences[k].start - c.start, at + sentences[k].end - c.start) for k in home.get(ci, []))
                  for ci, c in enumerate(chunks)) if late else ()
    job = EmbedJob(tuple(header + c.text for c in chunks), spans, tuple(sentences[k].text for k in alone))
    return job, home, alone


def _embedded(entry: _Entry, home: dict[int, list[int]], alone: list[int], result: EmbedResult) -> _Entry:
    """``entry`` with the vectors of its job's ``result``."""
    svecs: list[np.ndarray | None] = [None] * len(entry.sentences)
    for ci, ks in home.items():
        for k, vec in zip(ks, result.spans[ci]):
            svecs[k] = vec
    for k, vec in zip(alone, result.alone):
        svecs[k] = vec
    dim = result.chunks.shape[1]
    if any(v is None for v in svecs) or len(result.chunks) != len(entry.chunks):
        raise IndexCorrupt(f"the embedder returned too few vectors for {entry.source.id}")
    sv = np.asarray(svecs, dtype=np.float32).reshape(-1, dim)
    return _Entry(entry.source, entry.chunks, entry.sentences, result.chunks, sv)


def _runner(config: Config, embedder, runner: JobRunner | None) -> tuple[JobRunner, bool]:
    """The runner that embeds (the given one, a Ray cluster's, or this
    process with ``embedder``) and whether it does late chunking."""
    if runner is None and config.ray_address:
        from .ray_embedding import RayRunner

        runner = RayRunner(config, config.ray_address, config.ray_actors or None)
    if runner is None:
        return LocalRunner(embedder, max(1, config.batch_size)), hasattr(embedder, "embed_passages_with_spans")
    return runner, getattr(runner, "late", True)


def _embed(runner: JobRunner, late: bool, entries: list[_Entry], titled: bool) -> Iterator[_Entry]:
    """``entries`` with their vectors, in their own order whatever order the
    runner finishes them in (a Ray pool's, a restarted actor's): the store's
    rows come out as a local build writes them. Results that arrive early
    wait, at most one batch of them."""
    jobs = [_job(e, late, titled) for e in entries]
    early: dict[int, _Entry] = {}
    nxt = 0
    for n, result in runner.run([job for job, _, _ in jobs]):
        _, home, alone = jobs[n]
        early[n] = _embedded(entries[n], home, alone, result)
        while nxt in early:
            yield early.pop(nxt)
            nxt += 1
    if nxt != len(entries):
        raise IndexCorrupt("the embedding runner left sources without vectors")


def _vector_index(spec: ann.AnnSpec, previous: Path | None, old_spec: dict | None, vectors: FileRows,
                  first_new: int):
    """The FAISS index over every store row: the previous generation's with
    the rows from ``first_new`` added, when it was built the same way and
    reads back whole; otherwise built again from all rows."""
    import faiss

    if previous is not None and old_spec == spec.to_json() and first_new <= len(vectors):
        try:
            fx = faiss.read_index(str(previous))
        except (RuntimeError, OSError):
            fx = None
        if fx is not None and fx.ntotal == first_new:
            ann.extend(fx, spec, np.asarray(vectors[first_new:], np.float32))
            return fx
    return ann.build(spec, vectors)  # read a batch at a time



@dataclass
class _Plan:
    """Stage 1's result: what the build will write."""

    scan: SourceScan
    kept: dict[str, dict]  # source id -> its manifest entry: rows that stay where they are
    entries: list[_Entry]  # rows to append, in the folder's order (copied, or still to embed)
    state: StoreState | None  # the store to append to; None: a new one
    fresh: list[int] = field(default_factory=list)  # entries still to embed
    # entries whose rows are copied from the previous store (index -> its old manifest entry),
    # read back one at a time when they are appended (a compaction copies every live row)
    copies: dict[int, dict] = field(default_factory=dict)


def _plan(config: Config, scan: SourceScan, prev: _Previous | None) -> _Plan:
    """Keep a source's rows, copy them (a renamed file; every live row when
    dead rows would pass ``COMPACT_DEAD``), or chunk it anew."""
    steps: list[tuple[Source, dict | None, bool]] = []  # (source, its old entry, rows stay where they are)
    for source in scan.sources:
        hit = prev.by_sha.get(source.sha256) if prev else None
        steps.append((source, hit[1] if hit else None, bool(hit and hit[0] == source.id)))
    state = prev.store.state if prev else None
    if state is not None:
        appended = sum(_rows(e) if e else 1 for _, e, stays in steps if not stays)  # a new source: 1 at least
        live = sum(_rows(e) for _, e, stays in steps if stays and e) + appended
        total = state.chunk_rows + appended
        if total and (total - live) / total > COMPACT_DEAD:
            steps, state = [(source, e, False) for source, e, _ in steps], None  # every live row to a new store
    plan = _Plan(scan, {}, [], state)
    for source, old, stays in steps:
        if stays and old is not None:
            plan.kept[source.id] = old
        elif old is not None and prev is not None:
            plan.copies[len(plan.entries)] = old
            plan.entries.append(_Entry(source, [], []))  # read back when appended (_fill)
        else:
            plan.fresh.append(len(plan.entries))
            plan.entries.append(_Entry(source, [], []))  # chunked when its batch comes (_fill)
    return plan


def _chunked(config: Config, source: Source) -> _Entry:
    sentences = [Sentence(source.id, a, b, source.text[a:b]) for a, b in split_sentences(source.text)]
    return _Entry(source, chunk_source(source, config.chunking), sentences)


def _fresh_batches(entries: list[_Entry], fresh: list[int], limit: int) -> Iterator[list[int]]:
    """``fresh`` cut into runs of at most ``limit`` characters of text (at
    least one source each)."""
    batch: list[int] = []
    size = 0
    for i in fresh:
        n = len(entries[i].source.text)
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(i)
        size += n
    if batch:
        yield batch


@dataclass
class _Filled:
    """Stage 2's result: the store after the appends and where each appended
    source's rows are."""

    state: StoreState
    placed: dict[str, dict]  # source id -> {"line", "rows", "sentence_rows"}
    embedded_chunks: int


def _fill(config: Config, embedder, runner: JobRunner | None, plan: _Plan, prev: _Previous | None,
          progress: Progress) -> _Filled:
    """Stage 2: append the plan's copied entries to its store (or a new
    one), then chunk, embed and append its fresh sources a batch at a time.
    An entry's rows leave memory once appended. A copy whose old rows no
    longer match its text (a damaged store) is embedded again."""
    index_dir = Path(config.index_dir)
    placed: dict[str, dict] = {}
    appender: Appender | None = None
    state = plan.state
    waiting: list[_Entry] = []  # sources without chunks that came before a new store's first vectors

    def add(e: _Entry) -> None:
        nonlocal appender, state
        vectors = np.asarray(e.chunk_vectors)
        if appender is None:
            if state is None and not len(e.chunks):
                waiting.append(e)  # a new store needs the vectors' dimension
                return
            state = state or StoreState(new_store_name(), int(vectors.shape[1]))
            appender = Appender(index_dir / state.name, state)
            for w in waiting:
                add(w)
        if len(e.chunks) and int(vectors.shape[1]) != appender.dim:
            raise IndexCorrupt("reused vectors and new vectors have different dimensions; use --full")
        line, row, srow = appender.add(
            e.source, e.chunks, e.sentences, vectors, np.asarray(e.sentence_vectors),
            [Counter(tokenize(c.text)) for c in e.chunks])
        placed[e.source.id] = {"line": line, "rows": [row, row + len(e.chunks)],
                               "sentence_rows": [srow, srow + len(e.sentences)]}

    embedded = 0
    try:
        for i, old in plan.copies.items():  # copied rows first (they have their vectors already)
            copied = prev.entry(plan.entries[i].source, old) if prev is not None else None
            if copied is None:
                plan.fresh.append(i)
            else:
                add(copied)
        plan.fresh.sort()
        if plan.fresh:
            runner_, late = _runner(config, embedder, runner)
            progress("embed", 0, len(plan.fresh))
            done = 0
            for batch in _fresh_batches(plan.entries, plan.fresh, BATCH_CHARS):
                for e in _embed(runner_, late, [_chunked(config, plan.entries[i].source) for i in batch],
                                config.passage_title):
                    add(e)
                    embedded += len(e.chunks)
                    done += 1
                    progress("embed", done, len(plan.fresh))
        if appender is None:  # nothing appended: the store stays as it was
            if state is None:
                raise IndexCorrupt("no source gave any chunk to index")
            return _Filled(state, placed, 0)
        return _Filled(appender.close(), placed, embedded)
    except BaseException:
        if appender is not None:
            appender.abort()  # what was appended is cut off by the next build
        raise


def _write(config: Config, plan: _Plan, prev: _Previous | None, files: dict, filled: _Filled) -> tuple[Path, str]:
    """Stage 3: a new generation folder with the FAISS indexes grown by the
    appended rows, BM25 and, last, the manifest. Returns the folder and the
    name of its store."""
    import faiss

    index_dir = Path(config.index_dir)
    state, placed = filled.state, filled.placed
    before = plan.state or StoreState("", state.dim)
    store = Store(index_dir / state.name, state)
    sources: dict[str, dict] = {}
    for source in plan.scan.sources:
        where = plan.kept.get(source.id) or placed[source.id]
        sources[source.id] = {"sha256": source.sha256, "path": source.path, "title": source.title,
                              "chunks": _rows(where), "line": where["line"], "rows": where["rows"],
                              "sentence_rows": where["sentence_rows"]}
    rows, srows = live_rows({"sources": sources}, "rows"), live_rows({"sources": sources}, "sentence_rows")

    gen = index_dir / f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    gen.mkdir()
    # the previous generation's FAISS indexes grow by the appended rows, if they index this store
    base = prev if prev is not None and prev.store.state.name == state.name else None
    spec = ann.spec_for(state.chunk_rows, config.ann)
    fx = _vector_index(spec, base.gen / "faiss.index" if base else None,
                       base.manifest.get("faiss") if base else None, store.rows_read("vectors.f32"), before.chunk_rows)
    faiss.write_index(fx, str(gen / "faiss.index"))
    del fx  # written: free the graph before the next one is built (peak memory, BENCHMARKS.md)
    sspec = ann.spec_for(state.sentence_rows, config.ann, ann.SENTENCE_BUILD_EF)
    if sspec.kind != "flat":  # a flat index would only copy sentence_vectors.f32
        sfx = _vector_index(sspec, base.gen / "sentences.faiss" if base else None,
                            base.manifest.get("sentence_search") if base else None,
                            store.rows_read("sentence_vectors.f32"), before.sentence_rows)
        faiss.write_index(sfx, str(gen / "sentences.faiss"))
        del sfx
    pairs, ends = store.terms()
    bm25 = from_terms(*gather_terms(pairs, ends, rows), len(rows), store.vocab())
    for path in bm25.save(gen / "bm25"):
        _fsync(path)
    _fsync(gen / "bm25")
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "text_version": TEXT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "embedding": {"model": config.model, "dim": state.dim, "query_prompt": config.query_prompt,
                      "passage_prompt": config.passage_prompt, "passage_title": config.passage_title,
                      "normalized": True},
        "chunking": config.chunking.to_json(),
        "faiss": spec.to_json(),  # over every store row, dead ones too (search skips them)
        "sentence_search": sspec.to_json(),  # flat: a scan of the live sentence vectors
        "sentence_vectors": "late chunking: mean of the chunk's token embeddings over the sentence",
        "store": state.to_json(),
        "counts": {"sources": len(sources), "chunks": len(rows), "sentences": len(srows),
                   "dead_chunks": state.chunk_rows - len(rows)},
        "sources": sources,
        **files,  # "files": every article file's bytes, skipped ones too (source_problems), and their stats
        # what reading each file warned about, replayed when an unchanged file is not read again
        "file_warnings": plan.scan.file_warnings,
    }
    # Indented for people to read while small; past that, compact: only then does json use
    # its C encoder (5 s -> under 1 s for 100,000 sources, benchmarks/bench_archive.py).
    indent = 2 if len(sources) <= 1000 else None
    # The manifest is written last: a generation without one is incomplete.
    _write_bytes(gen / "manifest.json",
                 json.dumps(manifest, ensure_ascii=False, indent=indent, default=_json_default).encode("utf-8"))
    _fsync(gen)
    return gen, state.name


def _publish(index_dir: Path, gen: Path, stores: dict[str, str]) -> None:
    """Stage 4: make ``gen`` the live generation in one atomic rename.
    ``stores``: the store of each generation already known (no need to read
    its manifest again)."""
    try:
        previous = current_generation(index_dir).name
    except IndexMissing:
        previous = ""
    tmp_link = index_dir / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
    os.symlink(gen.name, tmp_link)
    os.replace(tmp_link, index_dir / CURRENT)  # the atomic switch
    _fsync(index_dir)
    _remove_old_generations(index_dir, keep={gen.name, previous}, stores=stores)


def build(config: Config, embedder, *, full: bool = False, progress: Progress | None = None,
          runner: JobRunner | None = None, loader: Loader | None = None) -> BuildReport:
    """(Re)build the index of ``loader``'s sources (by default the folder
    ``config.sources_dir``) into ``config.index_dir``.

    Sources whose bytes did not change keep their rows where they are in
    the store; new and changed ones are embedded and appended; a renamed
    file's rows are copied under its new id. When more than
    ``COMPACT_DEAD`` of the store's rows would be dead (changed or removed
    articles), or with ``full``, the build writes a new store holding only
    live rows (``full`` also embeds everything again).

    ``runner`` embeds the new sources' chunks and sentences; by default this
    process does, with ``embedder``, unless ``config.ray_address`` names a
    Ray cluster (rag/index/ray_embedding.py spreads the work over it; ``embedder``
    may then be None). Everything else, and the atomic swap, happens here
    either way."""
    started = time.perf_counter()
    progress = progress or (lambda stage, done, total: None)
    index_dir = Path(config.index_dir)
    if loader is None:
        if not Path(config.sources_dir).is_dir():
            raise ConfigError(f"the sources folder {config.sources_dir} does not exist")
        loader = FolderLoader(Path(config.sources_dir))
    with build_lock(index_dir):
        prev = None if full else _Previous.find(config)
        # hashed before reading: a file that changes during the build then shows as changed afterwards
        files = loader.fingerprint(prev.manifest if prev else None)
        scan = loader.scan(prev.known(files) if prev else None)
        if not scan.sources:
            raise SourceError(Path(config.sources_dir),
                              f"no readable articles in this folder (it reads {', '.join(SUFFIXES)} files)")
        old_ids = set(prev.manifest["sources"]) if prev else set(_previous_sources(index_dir))

        plan = _plan(config, scan, prev)
        filled = _fill(config, embedder, runner, plan, prev, progress)

        progress("write", 0, 1)
        gen, store = _write(config, plan, prev, files, filled)
        _publish(index_dir, gen, {gen.name: store, **({prev.gen.name: prev.store.state.name} if prev else {})})
        progress("write", 1, 1)

    embedded = {plan.entries[i].source.id for i in plan.fresh}
    return BuildReport(
        path=index_dir, sources=len(scan.sources),
        chunks=sum(_rows(e) for e in plan.kept.values()) + sum(_rows(e) for e in filled.placed.values()),
        embedded=tuple(s.id for s in scan.sources if s.id in embedded),
        reused=tuple(s.id for s in scan.sources if s.id not in embedded),
        removed=tuple(sorted(old_ids - {s.id for s in scan.sources})),
        skipped=scan.errors, duplicates=scan.duplicates,
        seconds=time.perf_counter() - started, embedded_chunks=filled.embedded_chunks,
    )

def needs_build(config: Config) -> list[str]:
    """Why the index should be (re)built, in plain words; empty when it is up
    to date with its configuration and its folder. Cheap: it hashes the
    source files and extracts none of them (``source_problems``)."""
    try:
        manifest = read_manifest(config.index_dir)
    except IndexMissing:
        return ["there is no index yet"]
    except IndexCorrupt as e:
        return [str(e)]
    return manifest_problems(manifest, config) or source_problems(manifest, config.sources_dir)


def watch(config: Config, embedder, interval: float, stop: Callable[[], bool],
          on_build: Callable[[BuildReport], None] = lambda report: None,
          on_error: Callable[[SanadError], None] = lambda error: None, **build_args) -> None:
    """``rag index --watch``: build whenever the sources folder no longer
    matches the index (a file added, changed or removed), checking every
    ``interval`` seconds until ``stop()`` is true. A failed build is
    reported to ``on_error`` and tried again at the next change; the last
    good index stays live meanwhile."""
    failed: list[str] | None = None
    while not stop():
        reasons = needs_build(config)
        if reasons and reasons != failed:
            try:
                on_build(build(config, embedder, **build_args))
                failed = None
            except IndexLocked:
                pass  # another build is running; look again later
            except SanadError as e:
                failed = reasons  # do not retry the same failing state in a loop
                on_error(e)
        deadline = time.monotonic() + interval
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.2, interval))


def _previous_sources(index_dir: Path) -> dict:
    try:
        return read_manifest(index_dir).get("sources", {})
    except SanadError:
        return {}


def _remove_old_generations(index_dir: Path, keep: set[str], stores: dict[str, str] | None = None) -> None:
    """Remove every generation but ``keep``: the new one and the one it
    replaces, which a running app may still be reading (a question answered
    from it, or a reload that resolved ``current`` just before the swap). It
    goes at the next build: the grace period is one build. A store goes when
    no kept generation uses it (after a compaction, or a build that failed
    while writing a new one)."""
    used = set()
    for name in keep:
        if stores and name in stores:
            used.add(stores[name])
            continue
        try:
            used.add(str(generation_manifest(index_dir / name).get("store", {}).get("name")))
        except (IndexCorrupt, AttributeError):
            pass
    for entry in index_dir.iterdir():
        if entry.name.startswith("gen-") and entry.name not in keep and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith("store-") and entry.name not in used and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f".{CURRENT}-") and entry.is_symlink():
            entry.unlink(missing_ok=True)
