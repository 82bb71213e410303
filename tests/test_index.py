"""The index on disk (rag/index/index.py): loading, checks and search."""
import json

import numpy as np
import pytest

from rag.index import index as ix
from rag.index import build as bx
from rag.errors import IndexCorrupt, IndexMissing, IndexStale
from conftest import FakeEmbedder, store_file


def test_build_then_load_round_trip(config, fake):
    report = bx.build(config, fake)
    loaded = ix.load(config)
    assert report.sources == 5 and report.chunks > 5
    assert len(fake.embedded) == report.chunks + len(loaded.sentences)  # chunks and sentences, once each
    assert loaded.model == "fake-bow" and len(loaded.chunks) == report.chunks
    # every chunk is exactly its source's text at its offsets
    for c in loaded.chunks + loaded.sentences:
        assert loaded.sources[c.source_id].text[c.start:c.end] == c.text
    assert loaded.sentence_vectors.shape == (len(loaded.sentences), FakeEmbedder.dim)
    m = loaded.manifest
    assert m["format_version"] == ix.FORMAT_VERSION and m["embedding"]["dim"] == FakeEmbedder.dim
    assert m["chunking"]["size"] == config.chunking.size
    assert set(m["sources"]) == set(loaded.sources) and all(len(v["sha256"]) == 64 for v in m["sources"].values())


def test_a_loaded_index_is_left_out_of_cyclic_garbage_collection(config, fake):
    import gc

    bx.build(config, fake)
    gc.unfreeze()
    loaded = ix.load(config)
    assert gc.get_freeze_count() >= len(loaded.chunks) + len(loaded.sentences)


def test_search_finds_the_passage(config, fake):
    bx.build(config, fake)
    loaded = ix.load(config)
    q = "كم بلغت رسوم حجز سيارة رودستر؟"
    (best, _), *_ = loaded.search_bm25(q, 3)
    assert "50 ألف دولار" in loaded.chunks[best].text
    (best, _), *_ = loaded.search_dense(fake.embed_query(q), 3)
    assert loaded.chunks[best].source_id == "musk-altman-roadster-dispute"


def test_missing_index(config):
    with pytest.raises(IndexMissing, match="rag index"):
        ix.load(config)


@pytest.mark.parametrize("change, expected", [
    (dict(model="other/model"), "embedding model 'fake-bow'"),
    (dict(chunk_size=400), "chunk size is 500 in the index, 400 in the configuration"),
    (dict(chunk_overlap=10), "chunk overlap is 75 in the index, 10 in the configuration"),
    (dict(query_prompt="سؤال: "), "query_prompt"),
    (dict(passage_title=False), "passage titles on, the configuration has them off"),
])
def test_manifest_mismatch_is_reported_precisely(config, fake, change, expected):
    bx.build(config, fake)
    with pytest.raises(IndexStale) as e:
        ix.load(config.with_values(**change))
    assert any(expected in p for p in e.value.problems)


def test_an_index_from_before_passage_titles_is_stale_and_rebuilt_whole(config, fake):
    bx.build(config, fake)
    path = config.index_dir / "current" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["embedding"]["passage_title"]  # as an index built before the setting existed
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexStale, match="passage titles off"):
        ix.load(config)
    assert ix.load(config.with_values(passage_title=False)).chunks  # it did embed without them
    again = FakeEmbedder()
    bx.build(config, again)
    assert again.embedded and ix.load(config).manifest["embedding"]["passage_title"] is True


def test_other_format_version_is_refused(config, fake):
    bx.build(config, fake)
    path = config.index_dir / "current" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexStale, match="format version 99"):
        ix.load(config)
    # and a normal build replaces it rather than reusing its vectors
    again = FakeEmbedder()
    bx.build(config, again)
    assert again.embedded and ix.load(config).manifest["format_version"] == ix.FORMAT_VERSION


def test_changed_source_makes_index_stale(config, fake, corpus):
    bx.build(config, fake)
    p = corpus / "musk-stargate-uae.md"
    p.write_text(p.read_text(encoding="utf-8").replace("مايو", "يونيو"), encoding="utf-8")
    with pytest.raises(IndexStale, match="'musk-stargate-uae.md' changed"):
        ix.load(config)


@pytest.mark.parametrize("damage", ["truncate_faiss", "drop_chunk", "bad_manifest", "edit_chunk_text"])
def test_damaged_index_is_reported_not_used(config, fake, damage):
    bx.build(config, fake)
    gen = config.index_dir / "current"
    if damage == "truncate_faiss":
        data = (gen / "faiss.index").read_bytes()
        (gen / "faiss.index").write_bytes(data[: len(data) // 2])
    elif damage == "drop_chunk":
        lines = store_file(config.index_dir, "chunks.jsonl").read_text().splitlines()
        store_file(config.index_dir, "chunks.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    elif damage == "bad_manifest":
        (gen / "manifest.json").write_text("{not json")
    else:
        lines = store_file(config.index_dir, "chunks.jsonl").read_text().splitlines()
        row = json.loads(lines[0])
        row["text"] = "نص مزيف" + row["text"][7:]
        store_file(config.index_dir, "chunks.jsonl").write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    with pytest.raises(IndexCorrupt):
        ix.load(config)
    bx.build(config, FakeEmbedder())  # a rebuild recovers
    ix.load(config)


def test_forced_hnsw_index_is_recorded_and_restored(config, fake):
    from rag.index import index as ix
    from rag.index import build as bx

    cfg = config.with_values(ann="hnsw")
    bx.build(cfg, fake)
    index = ix.load(cfg)
    assert index.manifest["faiss"]["type"] == "hnsw"
    assert index.manifest["faiss"]["factory"].startswith("HNSW")
    assert "efSearch" in index.manifest["faiss"]["params"]
    q = fake.embed_query("رسوم حجز سيارة رودستر")
    exact = np.argsort(-(np.asarray(index.vectors) @ q))[:5]  # an exact scan of the stored vectors
    assert [i for i, _ in index.search_dense(q, 5)][0] == exact[0]


def test_small_corpus_stays_exact(config, fake):
    from rag.index import index as ix
    from rag.index import build as bx

    bx.build(config, fake)
    assert ix.load(config).manifest["faiss"]["type"] == "flat"


def test_bad_index_type_is_a_config_error():
    from rag.config import Config
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="index type"):
        Config.load(env={"SANAD_ANN": "annoy"})


def test_without_leaves_sources_out_everywhere(config, fake):
    from rag.index import index as ix
    from rag.index import build as bx

    bx.build(config, fake)
    index = ix.load(config)
    gone = sorted(index.sources)[0]
    sub = index.without([gone])
    assert gone not in sub.sources and all(c.source_id != gone for c in sub.chunks)
    assert all(x.source_id != gone for x in sub.sentences)
    assert sub.faiss_index.ntotal == len(sub.chunks) == sub.vectors.shape[0] == sub.bm25.size
    assert len(sub.sentences) == sub.sentence_vectors.shape[0]
    for i, _ in sub.search_dense(fake.embed_query("ماسك"), 50):
        assert sub.chunks[i].source_id != gone
    assert len(index.chunks) > len(sub.chunks)  # the loaded index itself is unchanged
    with pytest.raises(ValueError):
        index.without(list(index.sources))


@pytest.mark.parametrize("seed", range(20))
def test_top_k_is_the_stable_sort_prefix_even_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, size=int(rng.integers(1, 300))).astype(np.float32)  # many ties
    for k in (0, 1, 3, 10, len(scores), len(scores) + 5):
        assert ix.top_k(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_staleness_is_checked_on_bytes_without_extracting(config, monkeypatch):
    """A saved page or PDF is slow to extract: checking an index against the
    folder hashes the files and reads none of them as articles. A skipped
    file (here an empty one) is recorded too, so it is not "new" ever after."""
    (config.sources_dir / "empty.md").write_text("", encoding="utf-8")
    bx.build(config, FakeEmbedder())
    import rag.ingest.sources

    def no_reading(path):
        raise AssertionError(f"extracted {path}")

    monkeypatch.setattr(rag.ingest.sources, "read_file", no_reading)
    ix.load(config)  # up to date, without extraction
    (config.sources_dir / "empty.md").write_text("عنوان", encoding="utf-8")
    with pytest.raises(IndexStale, match="file 'empty.md' changed"):
        ix.load(config)


def test_an_index_without_file_fingerprints_is_checked_by_reading(config):
    """Indexes built before fingerprints were recorded still load."""
    bx.build(config, FakeEmbedder())
    gen = ix.current_generation(config.index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"]
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    ix.load(config)
    (config.sources_dir / "new.md").write_text("مقال جديد عن الطاقة.", encoding="utf-8")
    with pytest.raises(IndexStale, match="source 'new' is new"):
        ix.load(config)


def test_a_large_archive_searches_sentences_through_faiss(config):
    """Past ann.FLAT_MAX sentences (forced here with ann="hnsw") the nearest
    sentences come from a FAISS index written beside their vectors, and agree
    with a scan; a small index scans, as before, and writes no such file."""
    bx.build(config, FakeEmbedder())
    small = ix.load(config)
    assert small.sentence_ann is None and not (small.path / "sentences.faiss").exists()
    assert small.manifest["sentence_search"]["type"] == "flat"
    big_config = config.with_values(ann="hnsw")
    bx.build(big_config, FakeEmbedder(), full=True)
    big = ix.load(big_config)
    assert big.sentence_ann is not None and big.sentence_ann.ntotal == len(big.sentences)
    assert big.manifest["sentence_search"]["type"] == "hnsw"
    # the sentence graph is built with less search than the chunks' (it only proposes candidates)
    assert big.manifest["sentence_search"]["build_ef"] == ix.ann.SENTENCE_BUILD_EF < big.manifest["faiss"]["build_ef"]
    q = FakeEmbedder().embed_query("إيلون ماسك وسام ألتمان")
    exact = small.search_sentences(q, 8)
    assert exact == [int(i) for i in np.argsort(-(small.sentence_vectors @ q), kind="stable")[:8]]
    assert len(set(big.search_sentences(q, 8)) & set(exact)) >= 7
    assert np.allclose(big.sentence_scores(q, exact), small.sentence_vectors[exact] @ q, atol=1e-6)
    # a sentence index that disagrees with the sentences is damage, not a wrong answer
    import faiss

    half = ix.ann.build(ix.ann.spec_for(10, "hnsw"), np.asarray(big.sentence_vectors[:10]))
    faiss.write_index(half, str(big.path / "sentences.faiss"))
    with pytest.raises(IndexCorrupt):
        ix.load(big_config)
