"""The index on disk: FAISS vectors, the chunk store, BM25 data and a manifest.

Layout of ``index_dir``::

    current -> gen-<time>-<id>/    symlink to the live generation
    gen-.../manifest.json          format version, model, chunking, sources
            chunks.jsonl           one chunk per line, with source offsets
            sources.jsonl          full source texts (citations cut from them)
            vectors.npy            float32 passage embeddings, row = chunk
            faiss.index            inner-product index over the same rows (exact,
                                   or HNSW for large corpora: rag/ann.py)
            bm25/                  BM25 over normalized, stemmed text (bm25s sparse
                                   matrices, loaded memory-mapped; rag/bm25.py)
            sentences.jsonl        sentence spans (answers quote these)
            sentence_vectors.npy   their embeddings, row = sentence
            sentences.faiss        FAISS over them, in a large archive only (rag/ann.py)
    .lock                          held while a build runs

A build writes a new generation beside the live one and then swaps the
``current`` symlink with one atomic rename, so a crash, Ctrl-C or kill -9
mid-build leaves the previous index live and loadable. The generation it
replaces is kept until the next build, for apps still reading it. Rebuilds are
incremental: chunks and vectors of sources whose bytes did not change are
reused, removed sources disappear.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import ann
from .bm25 import BM25
from .chunking import Chunk, chunk_source
from .config import Config
from .embedding import EmbedJob, EmbedResult, JobRunner, LocalRunner
from .errors import ConfigError, IndexCorrupt, IndexLocked, IndexMissing, IndexStale, SanadError, SourceError
from .sentences import Sentence, split_sentences
from .sources import Source, file_fingerprints, scan_sources
from .text import TEXT_VERSION, is_verbatim, tokenize

FORMAT_VERSION = 4  # 2: sentence spans and vectors; 3: late-chunking sentence vectors; 4: BM25 on bm25s
CURRENT = "current"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


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


@dataclass
class Index:
    """A loaded, consistent index. Read-only after loading."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    sources: dict[str, Source]
    faiss_index: Any
    bm25: BM25
    vectors: np.ndarray = field(repr=False)
    sentences: list[Sentence] = field(default_factory=list, repr=False)
    sentence_vectors: np.ndarray | None = field(default=None, repr=False)
    # FAISS over the sentence vectors when there are too many to scan (ann.FLAT_MAX); None: scan
    sentence_ann: Any = field(default=None, repr=False)

    @property
    def model(self) -> str:
        return self.manifest["embedding"]["model"]

    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk position, cosine) of the k nearest chunks."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        scores, ids = self.faiss_index.search(np.asarray(query_vector, np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def search_sentences(self, query_vector: np.ndarray, k: int) -> list[int]:
        """Positions of the k sentences nearest the query: a scan of the
        sentence vectors, or their FAISS index in a large archive (a scan of
        ~5 sentence vectors per chunk is what grew with the index:
        BENCHMARKS.md, "A newsroom archive")."""
        k = min(k, len(self.sentences))
        if k <= 0 or self.sentence_vectors is None:
            return []
        q = np.asarray(query_vector, np.float32)
        if self.sentence_ann is None:
            return top_k(self.sentence_vectors @ q, k).tolist()
        _, ids = self.sentence_ann.search(q.reshape(1, -1), k)
        return [int(i) for i in ids[0] if i >= 0]

    def sentence_scores(self, query_vector: np.ndarray, positions: list[int]) -> np.ndarray:
        """Cosine of the query with each sentence at ``positions``."""
        if self.sentence_vectors is None or not positions:
            return np.zeros(len(positions), np.float32)
        return np.asarray(self.sentence_vectors[positions], np.float32) @ np.asarray(query_vector, np.float32)

    def search_bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        scores = self.bm25.scores(tokenize(query))
        return [(int(i), float(scores[i])) for i in top_k(scores, k) if scores[i] > 0]

    def without(self, source_ids) -> "Index":
        """This index as if ``source_ids`` had never been indexed: in memory,
        nothing written. BM25 statistics and the vector index are rebuilt
        over what remains. The evaluation uses it to ask questions whose
        article is absent (rag/evaluate.py)."""
        drop = set(source_ids)
        rows = [i for i, c in enumerate(self.chunks) if c.source_id not in drop]
        srows = [i for i, x in enumerate(self.sentences) if x.source_id not in drop]
        if not rows:
            raise ValueError("leaving out these sources would leave the index empty")
        chunks = [self.chunks[i] for i in rows]
        vectors = np.ascontiguousarray(self.vectors[rows], dtype=np.float32)
        kind = self.manifest.get("faiss", {}).get("type")
        spec = ann.spec_for(len(rows), kind if kind in ann.INDEX_TYPES else "flat")
        manifest = {**self.manifest, "faiss": spec.to_json(), "sentence_search": ann.AnnSpec("flat", "Flat").to_json(),
                    "counts": {"sources": len(self.sources) - len(drop & self.sources.keys()),
                               "chunks": len(rows), "sentences": len(srows)}}
        return Index(self.path, manifest, chunks,
                     {sid: s for sid, s in self.sources.items() if sid not in drop},
                     ann.build(spec, vectors), BM25.fit([tokenize(c.text) for c in chunks]), vectors,
                     [self.sentences[i] for i in srows],
                     np.asarray(self.sentence_vectors[srows] if self.sentence_vectors is not None else
                                np.zeros((0, vectors.shape[1])), dtype=np.float32))


# --------------------------------------------------------------------- helpers
def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first, ties by position:
    exactly ``np.argsort(-scores, kind="stable")[:k]``, without sorting all
    of a large index (a partition, then a sort of ``k``)."""
    n = len(scores)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= n:
        return np.argsort(-scores, kind="stable")
    v = scores[np.argpartition(-scores, k - 1)[:k]].min()
    above = np.flatnonzero(scores > v)
    ties = np.flatnonzero(scores == v)[: k - len(above)]
    idx = np.concatenate([above, ties])
    return idx[np.lexsort((idx, -scores[idx]))]


def _json_default(value):
    return str(value)  # dates and other YAML scalars in front matter


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


def _write_jsonl(path: Path, rows) -> None:
    lines = (json.dumps(r, ensure_ascii=False, default=_json_default) for r in rows)
    _write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


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


def manifest_problems(manifest: dict, config: Config) -> list[str]:
    """How a manifest disagrees with the configuration, in plain words."""
    problems = []
    got = manifest.get("format_version")
    if got != FORMAT_VERSION:
        return [f"the index has format version {got}; this version of Sanad reads version {FORMAT_VERSION}"]
    emb = manifest.get("embedding", {})
    if emb.get("model") != config.model:
        problems.append(f"the index was built with embedding model '{emb.get('model')}', "
                        f"the configuration names '{config.model}'")
    for key in ("query_prompt", "passage_prompt"):
        if emb.get(key) != getattr(config, key):
            problems.append(f"the index was built with {key} {emb.get(key)!r}, "
                            f"the configuration has {getattr(config, key)!r}")
    built, want = manifest.get("chunking", {}), config.chunking.to_json()
    for key in ("size", "overlap", "separators", "splitter"):
        if built.get(key) != want[key]:
            problems.append(f"chunk {key} is {built.get(key)!r} in the index, {want[key]!r} in the configuration")
    if manifest.get("text_version") != TEXT_VERSION:
        problems.append(f"the index used text normalization version {manifest.get('text_version')}, "
                        f"this Sanad uses {TEXT_VERSION}")
    return problems


def source_problems(manifest: dict, sources_dir: Path) -> list[str]:
    """Which sources changed, appeared or disappeared since the index was built.

    An index that recorded its files' bytes (``files`` in the manifest) is
    checked by hashing the files, without extracting them; an older one by
    reading every source again."""
    if not Path(sources_dir).is_dir():
        return []
    files = manifest.get("files")
    if isinstance(files, dict):
        now_files = file_fingerprints(sources_dir)
        problems = [f"file '{name}' changed since the index was built"
                    for name in sorted(now_files.keys() & files.keys()) if now_files[name] != files[name]]
        problems += [f"file '{name}' is new and not indexed yet" for name in sorted(now_files.keys() - files.keys())]
        problems += [f"file '{name}' was removed but is still in the index"
                     for name in sorted(files.keys() - now_files.keys())]
        return problems
    built = {sid: info["sha256"] for sid, info in manifest.get("sources", {}).items()}
    now = {s.id: s.sha256 for s in scan_sources(sources_dir).sources}
    problems = [f"source '{sid}' changed since the index was built" for sid in sorted(now.keys() & built.keys())
                if now[sid] != built[sid]]
    problems += [f"source '{sid}' is new and not indexed yet" for sid in sorted(now.keys() - built.keys())]
    problems += [f"source '{sid}' was removed but is still in the index" for sid in sorted(built.keys() - now.keys())]
    return problems


# ----------------------------------------------------------------------- load
def _read_manifest(gen: Path) -> dict:
    try:
        manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"{gen} has no manifest.json") from None
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"the index manifest cannot be read ({e})") from None
    if not isinstance(manifest, dict):
        raise IndexCorrupt("the index manifest is not a JSON object")
    return manifest


def current_generation(index_dir: Path) -> Path:
    link = Path(index_dir) / CURRENT
    if not link.exists():
        raise IndexMissing(f"there is no index in {index_dir}; build it with 'rag index'")
    return link.resolve()


def read_manifest(index_dir: Path) -> dict:
    return _read_manifest(current_generation(index_dir))


def _read_chunks(gen: Path) -> list[Chunk]:
    rows = (json.loads(line) for line in (gen / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line)
    return [Chunk(r["id"], r["source"], int(r["start"]), int(r["end"]), r["text"]) for r in rows]


def _read_sentences(gen: Path) -> list[Sentence]:
    sources = None
    out = []
    for line in (gen / "sentences.jsonl").read_text(encoding="utf-8").splitlines():
        if line:
            r = json.loads(line)
            sources = sources or _read_sources(gen)
            src = sources[r["source"]]
            out.append(Sentence(r["source"], int(r["start"]), int(r["end"]), src.text[r["start"]:r["end"]]))
    return out


def _read_sources(gen: Path) -> dict[str, Source]:
    out = {}
    for line in (gen / "sources.jsonl").read_text(encoding="utf-8").splitlines():
        if line:
            r = json.loads(line)
            out[r["id"]] = Source(r["id"], r["title"], r["text"], r["path"], r["sha256"], r.get("meta", {}))
    return out


def load(config: Config, *, check_sources: bool = True) -> Index:
    """Load the live index, refusing one that does not match ``config``.

    Raises IndexMissing, IndexStale (with every problem listed) or IndexCorrupt.
    """
    import faiss

    gen = current_generation(config.index_dir)
    manifest = _read_manifest(gen)
    problems = manifest_problems(manifest, config)
    if check_sources and not problems:
        problems = source_problems(manifest, config.sources_dir)
    if problems:
        raise IndexStale(problems)
    try:
        chunks = _read_chunks(gen)
        sources = _read_sources(gen)
        vectors = np.load(gen / "vectors.npy", mmap_mode="r")
        sentences = _read_sentences(gen)
        svectors = np.load(gen / "sentence_vectors.npy", mmap_mode="r")
        fx = faiss.read_index(str(gen / "faiss.index"))
        ann.configure(fx, manifest.get("faiss", {}).get("params", ""))
        bm25 = BM25.load(gen / "bm25")
        sspec = manifest.get("sentence_search") or {"type": "flat"}  # older indexes: a scan
        sfx = None
        if sspec.get("type") != "flat":
            sfx = faiss.read_index(str(gen / "sentences.faiss"))
            ann.configure(sfx, sspec.get("params", ""))
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError) as e:
        raise IndexCorrupt(f"the index in {config.index_dir} is damaged ({type(e).__name__}: {e}); "
                           "rebuild it with 'rag index --full'") from None
    n = manifest.get("counts", {}).get("chunks")
    sizes = {"manifest": n, "chunk store": len(chunks), "FAISS index": fx.ntotal,
             "vectors": vectors.shape[0], "BM25": bm25.size}
    if len(set(sizes.values())) != 1:
        detail = ", ".join(f"{k} {v}" for k, v in sizes.items())
        raise IndexCorrupt(f"the index files disagree on the number of chunks ({detail}); "
                           "rebuild it with 'rag index --full'")
    if not len(sentences) == svectors.shape[0] == manifest["counts"].get("sentences") or (
            sfx is not None and sfx.ntotal != len(sentences)):
        raise IndexCorrupt("the sentence store and its vectors disagree; rebuild it with 'rag index --full'")
    for c in chunks:
        src = sources.get(c.source_id)
        if src is None or not is_verbatim(src.text, c.start, c.end, c.text):
            raise IndexCorrupt(f"chunk {c.id} does not match its source text; rebuild it with 'rag index --full'")
    return Index(gen, manifest, chunks, sources, fx, bm25, vectors, sentences, svectors, sfx)


# ---------------------------------------------------------------------- build
@dataclass(frozen=True, eq=False)
class _Entry:
    """One source's share of the index."""

    source: Source
    chunks: list[Chunk]
    sentences: list[Sentence]
    chunk_vectors: np.ndarray | None = None  # None: still to embed
    sentence_vectors: np.ndarray | None = None


def _reusable(config: Config) -> tuple[dict, dict[str, _Entry]]:
    """The live index's entries by source sha256, if it was built with the
    same settings; nothing if it was not (or is damaged)."""
    try:
        gen = current_generation(config.index_dir)
        manifest = _read_manifest(gen)
        if manifest_problems(manifest, config):
            return {}, {}
        chunks, sentences = _read_chunks(gen), _read_sentences(gen)
        vectors, svectors = np.load(gen / "vectors.npy"), np.load(gen / "sentence_vectors.npy")
        if len(chunks) != vectors.shape[0] or len(sentences) != svectors.shape[0]:
            return {}, {}
        sources = _read_sources(gen)
    except (SanadError, OSError, ValueError, KeyError):
        return {}, {}
    rows_c: dict[str, list[int]] = {}
    rows_s: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        rows_c.setdefault(c.source_id, []).append(i)
    for i, x in enumerate(sentences):
        rows_s.setdefault(x.source_id, []).append(i)
    reuse = {}
    for sid, src in sources.items():
        ci, si = rows_c.get(sid, []), rows_s.get(sid, [])
        reuse[src.sha256] = _Entry(src, [chunks[i] for i in ci], [sentences[i] for i in si],
                                   vectors[ci], svectors[si])
    return manifest, reuse


def _job(entry: _Entry, late: bool) -> tuple[EmbedJob, dict[int, list[int]], list[int]]:
    """What to embed for one source: each sentence's vector comes from the
    first chunk that holds it whole (late chunking, when the embedder can);
    a sentence no chunk holds whole, or every sentence without late
    chunking, is embedded alone. Returns the job, the sentences of each
    chunk (by chunk) and the sentences embedded alone."""
    chunks, sentences = entry.chunks, entry.sentences
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
    spans = tuple(tuple((sentences[k].start - c.start, sentences[k].end - c.start) for k in home.get(ci, []))
                  for ci, c in enumerate(chunks)) if late else ()
    job = EmbedJob(tuple(c.text for c in chunks), spans, tuple(sentences[k].text for k in alone))
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


def build(config: Config, embedder, *, full: bool = False, progress: Progress | None = None,
          runner: JobRunner | None = None) -> BuildReport:
    """(Re)build the index for ``config.sources_dir`` into ``config.index_dir``.

    ``runner`` embeds the new sources' chunks and sentences; by default this
    process does, with ``embedder``, unless ``config.ray_address`` names a
    Ray cluster (rag/ray_embedding.py spreads the work over it; ``embedder``
    may then be None). Everything else, and the
    atomic swap, happens here either way."""
    import faiss

    started = time.perf_counter()
    progress = progress or (lambda stage, done, total: None)
    sources_dir, index_dir = Path(config.sources_dir), Path(config.index_dir)
    if not sources_dir.is_dir():
        raise ConfigError(f"the sources folder {sources_dir} does not exist")
    with build_lock(index_dir):
        # hashed before reading: a file that changes during the build then shows as changed afterwards
        files = file_fingerprints(sources_dir)
        scan = scan_sources(sources_dir)
        if not scan.sources:
            raise SourceError(sources_dir, "no readable .txt or .md articles in this folder")
        old_manifest, reuse = _reusable(config)
        old_ids = set(_previous_sources(index_dir))
        if full:
            reuse = {}

        entries: list[_Entry] = []
        for source in scan.sources:
            kept = reuse.get(source.sha256)
            if kept and all(is_verbatim(source.text, c.start, c.end, c.text) for c in kept.chunks):
                # a renamed (or copied-then-deleted) file keeps its vectors under its new id
                entries.append(_Entry(
                    source,
                    [Chunk(f"{source.id}#{n}", source.id, c.start, c.end, c.text) for n, c in enumerate(kept.chunks)],
                    [Sentence(source.id, x.start, x.end, x.text) for x in kept.sentences],
                    kept.chunk_vectors, kept.sentence_vectors))
            else:
                sentences = [Sentence(source.id, a, b, source.text[a:b]) for a, b in split_sentences(source.text)]
                entries.append(_Entry(source, chunk_source(source, config.chunking), sentences))

        fresh = [i for i, e in enumerate(entries) if e.chunk_vectors is None]
        n_fresh_chunks = sum(len(entries[i].chunks) for i in fresh)
        if fresh:
            progress("embed", 0, n_fresh_chunks)
            if runner is None and config.ray_address:
                from .ray_embedding import RayRunner

                runner = RayRunner(config, config.ray_address, config.ray_actors or None)
            if runner is None:
                runner = LocalRunner(embedder, max(1, config.batch_size))
                late = hasattr(embedder, "embed_passages_with_spans")
            else:
                late = getattr(runner, "late", True)
            jobs = [_job(entries[i], late) for i in fresh]
            done_chunks = 0
            for n, result in runner.run([job for job, _, _ in jobs]):
                _, home, alone = jobs[n]
                entries[fresh[n]] = _embedded(entries[fresh[n]], home, alone, result)
                done_chunks += len(entries[fresh[n]].chunks)
                progress("embed", done_chunks, n_fresh_chunks)
            if any(entries[i].chunk_vectors is None for i in fresh):
                raise IndexCorrupt("the embedding runner left sources without vectors")
            first = entries[fresh[0]].chunk_vectors
            assert first is not None  # embedded just above
            dim = first.shape[1]
        else:
            dim = int(old_manifest["embedding"]["dim"])

        all_chunks = [c for e in entries for c in e.chunks]
        all_sentences = [x for e in entries for x in e.sentences]
        vectors = np.ascontiguousarray(np.concatenate([np.asarray(e.chunk_vectors) for e in entries]),
                                       dtype=np.float32)
        svectors = np.concatenate([np.asarray(e.sentence_vectors).reshape(-1, dim) for e in entries]).astype(np.float32)
        if vectors.shape[1] != dim:
            raise IndexCorrupt("reused vectors and new vectors have different dimensions; use --full")

        progress("write", 0, 1)
        gen = index_dir / f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        gen.mkdir()
        spec = ann.spec_for(len(vectors), config.ann)
        fx = ann.build(spec, vectors)
        faiss.write_index(fx, str(gen / "faiss.index"))
        sspec = ann.spec_for(len(svectors), config.ann)
        if sspec.kind != "flat":  # a flat index would only copy sentence_vectors.npy
            faiss.write_index(ann.build(sspec, svectors), str(gen / "sentences.faiss"))
        _write_npy(gen / "vectors.npy", vectors)
        _write_npy(gen / "sentence_vectors.npy", svectors)
        _write_jsonl(gen / "chunks.jsonl", ({"id": c.id, "source": c.source_id, "start": c.start,
                                              "end": c.end, "text": c.text} for c in all_chunks))
        _write_jsonl(gen / "sentences.jsonl", ({"source": x.source_id, "start": x.start, "end": x.end}
                                                 for x in all_sentences))
        _write_jsonl(gen / "sources.jsonl", ({"id": e.source.id, "title": e.source.title, "path": e.source.path,
                                               "sha256": e.source.sha256, "meta": dict(e.source.meta),
                                               "text": e.source.text} for e in entries))
        bm25 = BM25.fit([tokenize(c.text) for c in all_chunks])
        for path in bm25.save(gen / "bm25"):
            _fsync(path)
        _fsync(gen / "bm25")
        manifest = {
            "format_version": FORMAT_VERSION,
            "text_version": TEXT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "embedding": {"model": config.model, "dim": dim, "query_prompt": config.query_prompt,
                          "passage_prompt": config.passage_prompt, "normalized": True},
            "chunking": config.chunking.to_json(),
            "faiss": spec.to_json(),
            "sentence_search": sspec.to_json(),  # flat: a scan of sentence_vectors.npy
            "sentence_vectors": "late chunking: mean of the chunk's token embeddings over the sentence",
            "counts": {"sources": len(entries), "chunks": len(all_chunks), "sentences": len(all_sentences)},
            "sources": {e.source.id: {"sha256": e.source.sha256, "path": e.source.path, "title": e.source.title,
                                      "chunks": len(e.chunks)} for e in entries},
            "files": files,  # every article file's bytes, skipped ones too (source_problems)
        }
        # The manifest is written last: a generation without one is incomplete.
        _write_bytes(gen / "manifest.json",
                     json.dumps(manifest, ensure_ascii=False, indent=2, default=_json_default).encode("utf-8"))
        _fsync(gen)

        try:
            previous = current_generation(index_dir).name
        except IndexMissing:
            previous = ""
        tmp_link = index_dir / f".{CURRENT}-{uuid.uuid4().hex[:8]}"
        os.symlink(gen.name, tmp_link)
        os.replace(tmp_link, index_dir / CURRENT)  # the atomic switch
        _fsync(index_dir)
        _remove_old_generations(index_dir, keep={gen.name, previous})
        progress("write", 1, 1)

    return BuildReport(
        path=index_dir, sources=len(entries), chunks=len(all_chunks),
        embedded=tuple(entries[i].source.id for i in fresh),
        reused=tuple(e.source.id for i, e in enumerate(entries) if i not in fresh),
        removed=tuple(sorted(old_ids - {e.source.id for e in entries})),
        skipped=scan.errors, duplicates=scan.duplicates,
        seconds=time.perf_counter() - started, embedded_chunks=n_fresh_chunks,
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


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    """Remove every generation but ``keep``: the new one and the one it
    replaces, which a running app may still be reading (a question answered
    from it, or a reload that resolved ``current`` just before the swap). It
    goes at the next build: the grace period is one build."""
    for entry in index_dir.iterdir():
        if entry.name.startswith("gen-") and entry.name not in keep and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(f".{CURRENT}-") and entry.is_symlink():
            entry.unlink(missing_ok=True)
