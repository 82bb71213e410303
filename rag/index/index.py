"""The index on disk: FAISS vectors, the row store, BM25 data and a manifest.

Layout of ``index_dir``::

    current -> gen-<time>-<id>/    symlink to the live generation
    store-<id>/                    append-only rows shared by generations: sources,
                                   chunks, sentences, their vectors, BM25 terms
                                   (rag/index/store.py)
    gen-.../manifest.json          format version, model, chunking, the store and how
                                   much of it this generation uses, each source's rows
            faiss.index            inner-product index over every stored chunk row
                                   (exact, or HNSW for large corpora: rag/index/ann.py)
            sentences.faiss        the same over sentence rows, in a large archive only
            bm25/                  BM25 over the live chunks (bm25s sparse matrices,
                                   loaded memory-mapped; rag/index/bm25.py)
    .lock                          held while a build runs

A build (rag/index/build.py) appends the rows of new and changed sources to the
store, adds them to the previous generation's FAISS indexes, recomputes BM25
from the stored term counts, and writes a new generation that names the live
rows; then it swaps the ``current`` symlink with one atomic rename. A crash,
Ctrl-C or kill -9 mid-build leaves the previous index live and loadable (it
never reads past its own lengths of the store). Rows of changed and removed
sources stay in the store, dead, until dead rows pass ``COMPACT_DEAD`` and a
build writes a new store with only live ones. The generation a build
replaces is kept until the next build, for apps still reading it.

This module is the reading side: the format's checks, loading and search.
"""
from __future__ import annotations

import gc
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import ann
from .bm25 import BM25
from ..ingest.chunking import Chunk
from ..config import Config
from ..errors import IndexCorrupt, IndexMissing, IndexStale
from ..ingest.sentences import Sentence
from ..ingest.sources import Source, file_record, scan_sources
from .store import Rows, Store, StoreDamaged, StoreState
from ..text import TEXT_VERSION, is_verbatim, tokenize

# 2: sentence spans and vectors; 3: late-chunking sentence vectors; 4: BM25 on bm25s; 5: rows in an
# append-only store shared by generations (rag/index/store.py)
FORMAT_VERSION = 5
# A build compacts the store when more than this share of its chunk rows would be dead (changed or
# removed articles): dead rows cost disk and a little search over-fetch, compaction a full rewrite.
COMPACT_DEAD = 0.25
CURRENT = "current"


@dataclass
class Index:
    """A loaded, consistent index. Read-only after loading."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    sources: dict[str, Source]
    faiss_index: Any
    bm25: BM25
    vectors: np.ndarray | Rows = field(repr=False)  # row = chunk position
    sentences: list[Sentence] = field(default_factory=list, repr=False)
    sentence_vectors: np.ndarray | Rows | None = field(default=None, repr=False)
    # FAISS over the sentence vectors when there are too many to scan (ann.FLAT_MAX); None: scan
    sentence_ann: Any = field(default=None, repr=False)
    # FAISS ids are store rows; these map them to positions (-1: a dead row). None: the same numbers
    chunk_pos: np.ndarray | None = field(default=None, repr=False)
    sentence_pos: np.ndarray | None = field(default=None, repr=False)
    store: Store | None = field(default=None, repr=False)  # the rows, as this generation sees them

    @property
    def model(self) -> str:
        return self.manifest["embedding"]["model"]

    def search_dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk position, cosine) of the k nearest chunks."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        return _search_live(self.faiss_index, self.chunk_pos, query_vector, k)

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
            return top_k(np.asarray(self.sentence_vectors, np.float32) @ q, k).tolist()
        return [i for i, _ in _search_live(self.sentence_ann, self.sentence_pos, q, k)]

    def sentence_scores(self, query_vector: np.ndarray, positions: list[int]) -> np.ndarray:
        """Cosine of the query with each sentence at ``positions``."""
        if self.sentence_vectors is None or not positions:
            return np.zeros(len(positions), np.float32)
        return np.asarray(self.sentence_vectors[positions], np.float32) @ np.asarray(query_vector, np.float32)

    def source_tokens(self, source_id: str) -> list[str]:
        """The distinct tokens (``tokenize``) of a source's chunks, read from
        the store's BM25 term counts instead of tokenizing the article again:
        an article's words for source coverage cost ~2 ms each to tokenize,
        13 articles a question, at 1M chunks (benchmarks/bench_archive.py)."""
        entry = self.manifest["sources"][source_id]
        a, b = int(entry["rows"][0]), int(entry["rows"][1])
        pairs, ends = self._terms
        lo = int(ends[a - 1]) if a > 0 else 0
        hi = int(ends[b - 1]) if b > a else lo
        vocab = self._vocab
        return [vocab[int(t)] for t in np.unique(pairs[lo:hi, 0])]

    @cached_property
    def _terms(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.store is not None
        return self.store.terms()

    @cached_property
    def _vocab(self) -> list[str]:
        assert self.store is not None
        return self.store.vocab()

    def search_bm25(self, query: str, k: int) -> list[tuple[int, float]]:
        scores = self.bm25.scores(tokenize(query))
        return [(int(i), float(scores[i])) for i in top_k(scores, k) if scores[i] > 0]

    def without(self, source_ids) -> "Index":
        """This index as if ``source_ids`` had never been indexed: in memory,
        nothing written. BM25 statistics and the vector index are rebuilt
        over what remains. The evaluation uses it to ask questions whose
        article is absent (rag/eval/evaluate.py)."""
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
                                np.zeros((0, vectors.shape[1])), dtype=np.float32), store=self.store)


# --------------------------------------------------------------------- helpers
def _search_live(fx, pos: np.ndarray | None, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The k nearest live rows of a FAISS index over store rows, as
    (position, score). Dead rows are skipped: the search asks for more until
    k live ones come back (dead rows are at most ``COMPACT_DEAD`` of them)."""
    q = np.asarray(query_vector, np.float32).reshape(1, -1)
    want = k if pos is None else min(fx.ntotal, int(k / (1 - COMPACT_DEAD)) + 8)
    while True:
        scores, ids = fx.search(q, want)
        if pos is None:
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        hits = [(int(pos[i]), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0 and pos[i] >= 0]
        if len(hits) >= k or want >= fx.ntotal:
            return hits[:k]
        want = min(fx.ntotal, want * 2)


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
    # an index from before titles were embedded has no key: it embedded none
    if bool(emb.get("passage_title", False)) != config.passage_title:
        problems.append(f"the index was built with passage titles {'on' if emb.get('passage_title') else 'off'}, "
                        f"the configuration has them {'on' if config.passage_title else 'off'}")
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
        now_files = file_record(sources_dir, manifest)["files"]
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
def generation_manifest(gen: Path) -> dict:
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
    return generation_manifest(current_generation(index_dir))


def open_store(index_dir: Path, manifest: dict) -> Store:
    """The store a generation's manifest names, as that generation sees it."""
    state = StoreState.from_json(manifest.get("store") or {})
    if not state.name.startswith("store-") or "/" in state.name:
        raise StoreDamaged(f"the manifest names an odd store folder {state.name!r}")
    return Store(Path(index_dir) / state.name, state)


def live_rows(manifest: dict, key: str) -> np.ndarray:
    """The store rows of every live source, in manifest order."""
    parts = [np.arange(int(e[key][0]), int(e[key][1]), dtype=np.int64) for e in manifest["sources"].values()]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _positions(rows: np.ndarray, total: int) -> np.ndarray | None:
    """Store row -> live position (-1: a dead row), or None when the live
    rows are exactly the store's rows in order."""
    if len(rows) == total and np.array_equal(rows, np.arange(total)):
        return None
    pos = np.full(total, -1, np.int64)
    pos[rows] = np.arange(len(rows))
    return pos


def load(config: Config, *, check_sources: bool = True) -> Index:
    """Load the live index, refusing one that does not match ``config``.

    Raises IndexMissing, IndexStale (with every problem listed) or IndexCorrupt.
    """
    import faiss

    gen = current_generation(config.index_dir)
    manifest = generation_manifest(gen)
    problems = manifest_problems(manifest, config)
    if check_sources and not problems:
        problems = source_problems(manifest, config.sources_dir)
    if problems:
        raise IndexStale(problems)
    rebuild = "rebuild it with 'rag index --full'"
    try:
        store = open_store(config.index_dir, manifest)
        entries = manifest["sources"]
        by_line = store.sources({int(e["line"]) for e in entries.values()})
        sources = {sid: by_line[int(e["line"])] for sid, e in entries.items()}
        rows, srows = live_rows(manifest, "rows"), live_rows(manifest, "sentence_rows")
        stored = store.chunks()
        chunks = [stored[i] for i in rows]
        spans = store.sentence_spans()
        sentences = [Sentence(spans[i][0], spans[i][1], spans[i][2],
                              sources[spans[i][0]].text[spans[i][1]:spans[i][2]]) for i in srows]
        chunk_pos, sentence_pos = _positions(rows, len(stored)), _positions(srows, len(spans))
        stored_vectors, stored_svectors = store.array("vectors.f32"), store.array("sentence_vectors.f32")
        vectors = Rows(stored_vectors, None if chunk_pos is None else rows)
        svectors = Rows(stored_svectors, None if sentence_pos is None else srows)
        fx = faiss.read_index(str(gen / "faiss.index"))
        ann.configure(fx, manifest.get("faiss", {}).get("params", ""))
        bm25 = BM25.load(gen / "bm25")
        sspec = manifest.get("sentence_search") or {"type": "flat"}
        sfx = None
        if sspec.get("type") != "flat":
            sfx = faiss.read_index(str(gen / "sentences.faiss"))
            ann.configure(sfx, sspec.get("params", ""))
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise IndexCorrupt(f"the index in {config.index_dir} is damaged ({type(e).__name__}: {e}); {rebuild}") from None
    n = manifest.get("counts", {}).get("chunks")
    sizes = {"manifest": n, "chunk store": len(chunks), "BM25": bm25.size}
    if len(set(sizes.values())) != 1 or not fx.ntotal == len(stored) == len(stored_vectors):
        detail = ", ".join(f"{k} {v}" for k, v in {**sizes, "FAISS index": fx.ntotal, "stored rows": len(stored),
                                                      "vectors": len(stored_vectors)}.items())
        raise IndexCorrupt(f"the index files disagree on the number of chunks ({detail}); {rebuild}")
    if not len(sentences) == manifest["counts"].get("sentences") or len(spans) != len(stored_svectors) or (
            sfx is not None and sfx.ntotal != len(spans)):
        raise IndexCorrupt(f"the sentence store and its vectors disagree; {rebuild}")
    for sid, src in sources.items():
        if src.id != sid:
            raise IndexCorrupt(f"the store holds '{src.id}' where the manifest expects '{sid}'; {rebuild}")
    for c in chunks:
        home = sources.get(c.source_id)
        if home is None or not is_verbatim(home.text, c.start, c.end, c.text):
            raise IndexCorrupt(f"chunk {c.id} does not match its source text; {rebuild}")
    index = Index(gen, manifest, chunks, sources, fx, bm25, vectors, sentences, svectors, sfx, chunk_pos, sentence_pos,
                  store)
    # A large index is millions of long-lived objects (1.6M chunks and sentences at 100,000
    # articles). Python's cyclic collector walked them all at every full collection: pauses of
    # ~0.3 s that made retrieval's p95 28 times its p50 (benchmarks/bench_archive.py). They hold
    # no reference cycles, so the collector may skip them; reference counting still frees them
    # when a reload drops this index.
    gc.freeze()
    return index


