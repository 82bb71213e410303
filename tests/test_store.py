"""The append-only row store (rag/index/store.py)."""
import numpy as np
import pytest

from rag.ingest.chunking import Chunk
from rag.ingest.sentences import Sentence
from rag.ingest.sources import Source
from rag.index.store import FILES, Appender, Rows, Store, StoreDamaged, StoreState

DIM = 4
TEXT = "قالت الشركة إنها ضخت ملياري دولار. وأضافت أن Nvidia شريك."


def _source(sid: str, text: str = TEXT) -> tuple:
    src = Source(sid, f"عنوان {sid}", text, f"{sid}.md", f"sha-{sid}", {"url": "https://example.com/x"})
    cut = text.index(".") + 1
    chunks = [Chunk(f"{sid}#0", sid, 0, cut, text[:cut]), Chunk(f"{sid}#1", sid, cut + 1, len(text), text[cut + 1:])]
    sentences = [Sentence(sid, c.start, c.end, c.text) for c in chunks]
    vecs = np.random.default_rng(len(sid)).standard_normal((2, DIM)).astype(np.float32)
    return src, chunks, sentences, vecs, vecs[::-1].copy(), [{"شرك": 1, "ضخ": 1}, {"nvidia": 1, "شريك": 2}]


def _append(folder, state, *sids):
    app = Appender(folder, state)
    at = [app.add(*_source(s)) for s in sids]
    return app.close(), at


def test_rows_read_back_as_written_and_a_second_append_keeps_the_first_bytes(tmp_path):
    folder = tmp_path / "store-a"
    first, at = _append(folder, StoreState("store-a", DIM), "a", "b")
    assert at == [(0, 0, 0), (1, 2, 2)]
    before = {name: (folder / name).read_bytes() for name in FILES}
    second, at = _append(folder, first, "c")
    assert at == [(2, 4, 4)]
    for name in FILES:  # appended, never rewritten
        assert (folder / name).read_bytes()[: len(before[name])] == before[name]
    store = Store(folder, second)
    store.verify()
    assert [c.id for c in store.chunks()] == ["a#0", "a#1", "b#0", "b#1", "c#0", "c#1"]
    assert store.sources({2})[2].id == "c" and store.sources({2})[2].meta["url"] == "https://example.com/x"
    assert np.allclose(store.array("vectors.f32")[4:], _source("c")[3])
    assert store.vocab() == sorted({"شرك", "ضخ"}) + sorted({"nvidia", "شريك"})  # new terms only, once each
    pairs, ends = store.terms()
    assert ends.tolist() == [2, 4, 6, 8, 10, 12] and pairs[3].tolist() == [store.vocab().index("شريك"), 2]
    # the older generation's view still reads only its own rows
    assert len(Store(folder, first).chunks()) == 4


def test_rows_read_from_the_file_equal_the_mapped_rows_and_stop_at_the_generations_view(tmp_path):
    folder = tmp_path / "store-a"
    first, _ = _append(folder, StoreState("store-a", DIM), "a", "b")
    second, _ = _append(folder, first, "c")
    for name in ("vectors.f32", "sentence_vectors.f32"):
        mapped, read = Store(folder, second).array(name), Store(folder, second).rows_read(name)
        assert read.shape == mapped.shape == (6, DIM) and len(read) == 6
        assert np.array_equal(read[:], mapped) and np.array_equal(np.asarray(read), mapped)
        assert np.array_equal(read[2:5], mapped[2:5]) and read[6:].shape == (0, DIM)
        assert np.array_equal(read[np.array([0, 3, 5])], mapped[[0, 3, 5]])
        assert np.array_equal(read[4], mapped[4])
        # the first generation sees only its own 4 rows, though the file holds 6
        assert np.array_equal(Store(folder, first).rows_read(name)[:], mapped[:4])


def test_bytes_of_a_build_that_died_mid_append_are_cut_off(tmp_path):
    folder = tmp_path / "store-a"
    state, _ = _append(folder, StoreState("store-a", DIM), "a")
    dying = Appender(folder, state)
    dying.add(*_source("b"))
    dying.abort()  # no state published
    assert (folder / "chunks.jsonl").stat().st_size > state.bytes["chunks.jsonl"]
    again, at = _append(folder, state, "c")
    assert at == [(1, 2, 2)]
    for name in FILES:
        assert (folder / name).stat().st_size == again.bytes[name]
    assert [c.id for c in Store(folder, again).chunks()] == ["a#0", "a#1", "c#0", "c#1"]


def test_a_short_or_edited_file_is_reported(tmp_path):
    folder = tmp_path / "store-a"
    state, _ = _append(folder, StoreState("store-a", DIM), "a", "b")
    data = (folder / "vectors.f32").read_bytes()
    (folder / "vectors.f32").write_bytes(data[:-4])
    with pytest.raises(StoreDamaged, match="vectors.f32 holds"):
        Store(folder, state).verify()
    (folder / "vectors.f32").write_bytes(data)
    text = (folder / "chunks.jsonl").read_bytes()
    (folder / "chunks.jsonl").write_bytes(text.replace(b"\n", b" ", 1))  # same length, a row fewer
    with pytest.raises(StoreDamaged, match="chunks.jsonl holds 3 rows"):
        Store(folder, state).verify()


def test_vectors_of_another_width_are_refused(tmp_path):
    app = Appender(tmp_path / "store-a", StoreState("store-a", DIM + 1))
    with pytest.raises(ValueError, match="width"):
        app.add(*_source("a"))
    app.abort()


def test_rows_index_like_the_array_they_stand_for():
    data = np.arange(40, dtype=np.float32).reshape(10, 4)
    live = np.array([7, 2, 5])
    rows, whole = Rows(data, live), Rows(data, None, 6)
    assert rows.shape == (3, 4) and len(whole) == 6
    assert np.array_equal(np.asarray(rows), data[live]) and np.array_equal(rows[[2, 0]], data[[5, 7]])
    assert np.array_equal(rows[1:], data[[2, 5]]) and np.array_equal(np.asarray(whole), data[:6])
    assert [v.tolist() for v in rows] == data[live].tolist()
