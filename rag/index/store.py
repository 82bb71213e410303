"""The row store: an index's sources, chunks, sentences, vectors and BM25
terms, in append-only files that successive generations share.

Layout of ``index_dir/store-<id>/``::

    sources.jsonl         one source per line (its full extracted text)
    chunks.jsonl          one chunk per line: id, source, offsets, text
    sentences.jsonl       one sentence span per line: source, offsets
    vectors.f32           raw float32 rows (row = chunk line), ``dim`` wide
    sentence_vectors.f32  raw float32 rows (row = sentence line)
    terms.i32             (vocabulary id, count) pairs of every chunk, in row order
    term_ends.i64         where each chunk's pairs end in terms.i32
    vocab.jsonl           the BM25 vocabulary, one token per line

A generation's manifest names its store and how many bytes of each file it
uses (``StoreState``); bytes past that belong to no generation yet. A build
appends the rows of new and changed articles and publishes a generation that
uses the longer files, so adding 100 articles to a 100,000-article archive
writes 100 articles' rows, not the archive (BENCHMARKS.md). A generation
lists which rows are live; rows of changed and removed articles stay in the
files, dead, until a build compacts them into a new store
(``rag/index/index.py``).

Readers never look past their generation's lengths, so appending is safe
while an app serves an older generation, and a build that dies mid-append
leaves only bytes that the next build cuts off (``Appender``). This is
the segment-and-tombstone idea of Lucene's index files, with one segment.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ingest.chunking import Chunk
from ..ingest.sentences import Sentence
from ..ingest.sources import Source

TEXT_FILES = ("sources.jsonl", "chunks.jsonl", "sentences.jsonl", "vocab.jsonl")
ARRAY_FILES = {"vectors.f32": np.float32, "sentence_vectors.f32": np.float32,
               "terms.i32": np.int32, "term_ends.i64": np.int64}
FILES = TEXT_FILES + tuple(ARRAY_FILES)


class StoreDamaged(ValueError):
    """A store file is shorter than its generation says, or unreadable."""


@dataclass(frozen=True)
class StoreState:
    """What one generation uses of a store: its folder name, the vectors'
    width, and the bytes and rows of each file."""

    name: str
    dim: int
    bytes: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # lines of the .jsonl files

    def to_json(self) -> dict:
        return {"name": self.name, "dim": self.dim, "bytes": dict(self.bytes), "rows": dict(self.rows)}

    @classmethod
    def from_json(cls, data: dict) -> "StoreState":
        try:
            return cls(str(data["name"]), int(data["dim"]), {k: int(v) for k, v in data["bytes"].items()},
                       {k: int(v) for k, v in data["rows"].items()})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StoreDamaged(f"the manifest's store entry is malformed ({e})") from None

    @property
    def chunk_rows(self) -> int:
        return self.rows.get("chunks.jsonl", 0)

    @property
    def sentence_rows(self) -> int:
        return self.rows.get("sentences.jsonl", 0)


def new_name() -> str:
    return f"store-{uuid.uuid4().hex[:12]}"


class Store:
    """Read access to one generation's view of a store folder."""

    def __init__(self, folder: Path, state: StoreState):
        self.folder = Path(folder)
        self.state = state

    def _check(self, name: str) -> Path:
        path = self.folder / name
        want = self.state.bytes.get(name, 0)
        try:
            size = path.stat().st_size
        except OSError as e:
            raise StoreDamaged(f"{name} cannot be read ({e.strerror})") from None
        if size < want:
            raise StoreDamaged(f"{name} holds {size} bytes, the index uses {want}")
        return path

    def verify(self) -> None:
        """Every file holds at least the bytes this generation uses, and each
        text file the rows (a cheap check before a build reuses rows; loading
        checks every row's text)."""
        for name in FILES:
            path = self._check(name)
            if name in TEXT_FILES:
                lines, left = 0, self.state.bytes.get(name, 0)
                with open(path, "rb") as f:
                    while left > 0:
                        block = f.read(min(left, 1 << 24))
                        if not block:
                            break
                        lines += block.count(b"\n")
                        left -= len(block)
                if lines != self.state.rows.get(name, 0):
                    raise StoreDamaged(f"{name} holds {lines} rows, the index uses {self.state.rows.get(name, 0)}")

    def lines(self, name: str) -> list[str]:
        """The lines of a .jsonl file that this generation uses."""
        path = self._check(name)
        with open(path, "rb") as f:
            data = f.read(self.state.bytes.get(name, 0))
        lines = data.decode("utf-8").split("\n")[:-1] if data else []
        if len(lines) != self.state.rows.get(name, 0):
            raise StoreDamaged(f"{name} holds {len(lines)} rows, the index uses {self.state.rows.get(name, 0)}")
        return lines

    def array(self, name: str) -> np.ndarray:
        """A file of ``ARRAY_FILES``, memory-mapped (vectors as rows x dim)."""
        dtype = np.dtype(ARRAY_FILES[name])
        n = self.state.bytes.get(name, 0) // dtype.itemsize
        if n == 0:
            out = np.zeros(0, dtype)
        else:
            out = np.memmap(self._check(name), dtype=dtype, mode="r", shape=(n,))
        if name.endswith(".f32"):
            return out.reshape(-1, self.state.dim)
        return out

    def rows_read(self, name: str) -> "FileRows":
        """The vectors of a ``.f32`` file, read from the file a slice at a
        time instead of mapped: a build that streams every row into a FAISS
        graph keeps none of them resident (a mapping's pages stay in the
        process's RSS: 5 GB of vectors at 1M chunks)."""
        path = self._check(name) if self.state.bytes.get(name, 0) else self.folder / name
        return FileRows(path, self.state.bytes.get(name, 0) // (4 * self.state.dim), self.state.dim)

    def chunks(self) -> list[Chunk]:
        rows = (json.loads(line) for line in self.lines("chunks.jsonl"))
        return [Chunk(r["id"], r["source"], int(r["start"]), int(r["end"]), r["text"]) for r in rows]

    def sentence_spans(self) -> list[tuple[str, int, int]]:
        rows = (json.loads(line) for line in self.lines("sentences.jsonl"))
        return [(r["source"], int(r["start"]), int(r["end"])) for r in rows]

    def sources(self, wanted: set[int] | None = None) -> dict[int, Source]:
        """Sources by line number (only the ``wanted`` lines, if given)."""
        out = {}
        for n, line in enumerate(self.lines("sources.jsonl")):
            if wanted is None or n in wanted:
                r = json.loads(line)
                out[n] = Source(r["id"], r["title"], r["text"], r["path"], r["sha256"], r.get("meta", {}))
        return out

    def vocab(self) -> list[str]:
        return [json.loads(line) for line in self.lines("vocab.jsonl")]

    def terms(self) -> tuple[np.ndarray, np.ndarray]:
        """Every chunk row's (vocabulary id, count) pairs and where each row's pairs end."""
        return self.array("terms.i32").reshape(-1, 2), self.array("term_ends.i64")


class Rows:
    """Rows of a memory-mapped store array, in live order: ``rows[i]`` is
    the store row of live item ``i`` (None: the first n rows, as stored).
    Indexing gives numpy arrays; nothing is read until asked."""

    def __init__(self, data: np.ndarray, rows: np.ndarray | None, n: int | None = None):
        self._data = data
        self._rows = rows
        self._n = len(rows) if rows is not None else (len(data) if n is None else n)

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, self._data.shape[1])

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key):
        if self._rows is None:
            if isinstance(key, slice):
                return self._data[: self._n][key]
            return self._data[key]
        return self._data[self._rows[key]]

    def __iter__(self):
        for i in range(self._n):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self[: self._n] if self._rows is None else self._data[self._rows])
        return out.astype(dtype) if dtype is not None else out


class FileRows:
    """float32 rows of a file, ``len``-many of width ``dim``; a slice (or a
    sorted array of row numbers) is read from disk when asked."""

    def __init__(self, path: Path, n: int, dim: int):
        self.path, self._n, self.dim = Path(path), n, dim

    @property
    def shape(self) -> tuple[int, int]:
        return (self._n, self.dim)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self._n)
            if step != 1:
                raise IndexError("FileRows takes slices with step 1")
            count = max(0, stop - start)
            if not count:
                return np.zeros((0, self.dim), np.float32)
            data = np.fromfile(self.path, np.float32, count * self.dim, offset=start * self.dim * 4)
            return data.reshape(-1, self.dim)
        rows = np.asarray(key)
        if rows.ndim == 0:
            return self[int(rows):int(rows) + 1][0]
        mapped = np.memmap(self.path, np.float32, mode="r", shape=(self._n, self.dim))
        out = np.array(mapped[rows])  # a sample (IVF training): copied, and the mapping dropped
        del mapped
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out.astype(dtype) if dtype is not None else out


def _rows_of(vectors, dim: int) -> np.ndarray:
    out = np.asarray(vectors, np.float32)
    if out.size == 0:
        return out.reshape(0, dim)
    if out.ndim != 2 or out.shape[1] != dim:
        raise ValueError(f"vectors of shape {out.shape}, the store holds width {dim}")
    return out


class Appender:
    """Appends rows to a store after the bytes a generation uses, and returns
    the longer state to publish. Bytes past ``state`` (a build that died
    mid-append) are cut off first."""

    def __init__(self, folder: Path, state: StoreState):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bytes = {name: state.bytes.get(name, 0) for name in FILES}
        self.rows = {name: state.rows.get(name, 0) for name in TEXT_FILES}
        self.name, self.dim = state.name, state.dim
        # the BM25 vocabulary so far: new terms get the next ids
        self._vocab = {t: i for i, t in enumerate(Store(self.folder, state).vocab())} if state.bytes else {}
        self._files = {}
        for name in FILES:
            f = open(self.folder / name, "ab")
            f.truncate(self.bytes[name])
            self._files[name] = f

    def _write(self, name: str, data: bytes, rows: int = 0) -> None:
        self._files[name].write(data)
        self.bytes[name] += len(data)
        if name in self.rows:
            self.rows[name] += rows

    def _jsonl(self, name: str, rows: list) -> None:
        if rows:
            text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
            self._write(name, text.encode("utf-8"), len(rows))

    def _array(self, name: str, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array, dtype=ARRAY_FILES[name])
        self._write(name, data.tobytes())

    def add(self, source: Source, chunks: list[Chunk], sentences: list[Sentence], chunk_vectors: np.ndarray,
            sentence_vectors: np.ndarray, chunk_terms: list[dict[str, int]]) -> tuple[int, int, int]:
        """Append one source's rows; returns its (source line, first chunk
        row, first sentence row)."""
        at = (self.rows["sources.jsonl"], self.rows["chunks.jsonl"], self.rows["sentences.jsonl"])
        self._jsonl("sources.jsonl", [{"id": source.id, "title": source.title, "path": source.path,
                                       "sha256": source.sha256, "meta": dict(source.meta), "text": source.text}])
        self._jsonl("chunks.jsonl", [{"id": c.id, "source": c.source_id, "start": c.start, "end": c.end,
                                      "text": c.text} for c in chunks])
        self._jsonl("sentences.jsonl", [{"source": x.source_id, "start": x.start, "end": x.end} for x in sentences])
        self._array("vectors.f32", _rows_of(chunk_vectors, self.dim))
        self._array("sentence_vectors.f32", _rows_of(sentence_vectors, self.dim))
        new_tokens: list[str] = []
        pairs: list[int] = []
        ends = []
        end = self.bytes["terms.i32"] // 8
        for counts in chunk_terms:
            for token, n in sorted(counts.items()):
                tid = self._vocab.get(token)
                if tid is None:
                    tid = self._vocab[token] = len(self._vocab)
                    new_tokens.append(token)
                pairs += (tid, n)
            end += len(counts)
            ends.append(end)
        self._jsonl("vocab.jsonl", new_tokens)  # one JSON string a line
        self._array("terms.i32", np.asarray(pairs, np.int32))
        self._array("term_ends.i64", np.asarray(ends, np.int64))
        return at

    def close(self) -> StoreState:
        """Flush everything to disk; the state a generation may now publish."""
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return StoreState(self.name, self.dim, dict(self.bytes), dict(self.rows))

    def abort(self) -> None:
        for f in self._files.values():
            f.close()
