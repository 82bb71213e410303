import json
import os

import numpy as np
import pytest

from rag import index as ix
from rag.errors import IndexCorrupt, IndexLocked, IndexMissing, IndexStale, SourceError
from conftest import FakeEmbedder


def test_build_then_load_round_trip(config, fake):
    report = ix.build(config, fake)
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


def test_search_finds_the_passage(config, fake):
    ix.build(config, fake)
    loaded = ix.load(config)
    q = "كم بلغت رسوم حجز سيارة رودستر؟"
    (best, _), *_ = loaded.search_bm25(q, 3)
    assert "50 ألف دولار" in loaded.chunks[best].text
    (best, _), *_ = loaded.search_dense(fake.embed_query(q), 3)
    assert loaded.chunks[best].source_id == "musk-altman-roadster-dispute"


def test_missing_index(config):
    with pytest.raises(IndexMissing, match="rag index"):
        ix.load(config)


def test_incremental_rebuild_embeds_only_what_changed(config, fake, corpus):
    ix.build(config, fake)
    first = len(fake.embedded)

    again = FakeEmbedder()
    report = ix.build(config, again)
    assert again.embedded == [] and len(report.reused) == 5  # nothing changed, nothing embedded

    edited = corpus / "musk-stargate-uae.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nفقرة جديدة أضيفت إلى المقال.\n", encoding="utf-8")
    (corpus / "altman-musk-2016-video.md").unlink()
    third = FakeEmbedder()
    report = ix.build(config, third)
    assert report.embedded == ("musk-stargate-uae",) and report.removed == ("altman-musk-2016-video",)
    assert 0 < len(third.embedded) < first
    loaded = ix.load(config)
    assert "altman-musk-2016-video" not in {c.source_id for c in loaded.chunks}
    assert any("فقرة جديدة" in c.text for c in loaded.chunks)
    # reused vectors are exactly what a full rebuild computes
    full = ix.build(config, FakeEmbedder(), full=True)
    assert full.embedded and ix.load(config).vectors.shape == loaded.vectors.shape
    assert np.allclose(ix.load(config).vectors, loaded.vectors)


def test_old_generations_are_removed_after_one_build_of_grace(config, fake):
    ix.build(config, fake)
    first = ix.current_generation(config.index_dir)
    ix.build(config, fake, full=True)
    second = ix.current_generation(config.index_dir)
    gens = {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {first, second}  # the replaced one stays for apps still reading it
    ix.build(config, fake, full=True)
    gens = {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {second, ix.current_generation(config.index_dir)}


def test_interrupted_build_leaves_previous_index_usable(config, fake, corpus):
    ix.build(config, fake)
    before = ix.load(config, check_sources=False)
    (corpus / "new.md").write_text("مقال جديد عن سباق الذكاء الاصطناعي. " * 80, encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        ix.build(config, FakeEmbedder(fail_after=1), full=True)
    after = ix.load(config, check_sources=False)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)
    with pytest.raises(IndexStale, match="'new.md' is new"):
        ix.load(config)  # and it says the sources moved on


def test_crash_while_writing_a_generation_leaves_previous_index(config, fake, monkeypatch, corpus):
    ix.build(config, fake)
    before = ix.load(config).path

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ix, "_write_jsonl", boom)
    (corpus / "new.md").write_text("نص جديد.", encoding="utf-8")
    with pytest.raises(OSError):
        ix.build(config, fake)
    monkeypatch.undo()
    assert ix.load(config, check_sources=False).path == before
    ix.build(config, fake)  # the next build cleans up the half-written generation
    assert {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")} == {
        before, ix.current_generation(config.index_dir)}


@pytest.mark.parametrize("change, expected", [
    (dict(model="other/model"), "embedding model 'fake-bow'"),
    (dict(chunk_size=400), "chunk size is 500 in the index, 400 in the configuration"),
    (dict(chunk_overlap=10), "chunk overlap is 75 in the index, 10 in the configuration"),
    (dict(query_prompt="سؤال: "), "query_prompt"),
])
def test_manifest_mismatch_is_reported_precisely(config, fake, change, expected):
    ix.build(config, fake)
    with pytest.raises(IndexStale) as e:
        ix.load(config.with_values(**change))
    assert any(expected in p for p in e.value.problems)


def test_other_format_version_is_refused(config, fake):
    ix.build(config, fake)
    path = config.index_dir / "current" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexStale, match="format version 99"):
        ix.load(config)
    # and a normal build replaces it rather than reusing its vectors
    again = FakeEmbedder()
    ix.build(config, again)
    assert again.embedded and ix.load(config).manifest["format_version"] == ix.FORMAT_VERSION


def test_changed_source_makes_index_stale(config, fake, corpus):
    ix.build(config, fake)
    p = corpus / "musk-stargate-uae.md"
    p.write_text(p.read_text(encoding="utf-8").replace("مايو", "يونيو"), encoding="utf-8")
    with pytest.raises(IndexStale, match="'musk-stargate-uae.md' changed"):
        ix.load(config)


@pytest.mark.parametrize("damage", ["truncate_faiss", "drop_chunk", "bad_manifest", "edit_chunk_text"])
def test_damaged_index_is_reported_not_used(config, fake, damage):
    ix.build(config, fake)
    gen = config.index_dir / "current"
    if damage == "truncate_faiss":
        data = (gen / "faiss.index").read_bytes()
        (gen / "faiss.index").write_bytes(data[: len(data) // 2])
    elif damage == "drop_chunk":
        lines = (gen / "chunks.jsonl").read_text().splitlines()
        (gen / "chunks.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    elif damage == "bad_manifest":
        (gen / "manifest.json").write_text("{not json")
    else:
        lines = (gen / "chunks.jsonl").read_text().splitlines()
        row = json.loads(lines[0])
        row["text"] = "نص مزيف" + row["text"][7:]
        (gen / "chunks.jsonl").write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    with pytest.raises(IndexCorrupt):
        ix.load(config)
    ix.build(config, FakeEmbedder())  # a rebuild recovers
    ix.load(config)


def test_bad_source_is_skipped_others_indexed(config, fake, corpus):
    (corpus / "broken.txt").write_bytes("نص".encode("cp1256"))
    report = ix.build(config, fake)
    assert report.sources == 5 and [e.path for e in report.skipped] == [str(corpus / "broken.txt")]


def test_no_usable_sources_is_an_error(config, fake, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no readable"):
        ix.build(config.with_values(sources_dir=empty), fake)


def test_second_concurrent_build_is_refused(config, fake):
    with ix.build_lock(config.index_dir):
        pid = os.fork()
        if pid == 0:  # another process tries to build meanwhile
            try:
                ix.build(config, FakeEmbedder())
                os._exit(0)
            except IndexLocked:
                os._exit(42)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 42


def test_renamed_source_keeps_vectors_under_its_new_id(config, fake, corpus):
    ix.build(config, fake)
    (corpus / "musk-stargate-uae.md").rename(corpus / "stargate.md")
    again = FakeEmbedder()
    report = ix.build(config, again)
    assert again.embedded == [] and report.removed == ("musk-stargate-uae",)
    loaded = ix.load(config)
    ids = [c.id for c in loaded.chunks if c.source_id == "stargate"]
    assert ids and ids == [f"stargate#{n}" for n in range(len(ids))]


SLOW_BUILD = """
import sys, time
sys.path.insert(0, {tests!r})
from conftest import FakeEmbedder
from rag import index as ix
from rag.config import Config

class Slow(FakeEmbedder):
    def embed_passages(self, texts):
        print("embedding", flush=True)
        time.sleep(0.5)
        return super().embed_passages(texts)

config = Config.load(env={{}}, sources_dir={sources!r}, index_dir={index!r}, model="fake-bow")
ix.build(config, Slow(), full=True)
"""


def test_kill_9_mid_build_leaves_previous_index_loadable(config, fake, corpus):
    import subprocess
    import sys
    from pathlib import Path

    ix.build(config, fake)
    before = ix.load(config)
    code = SLOW_BUILD.format(tests=str(Path(__file__).parent), sources=str(corpus), index=str(config.index_dir))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "embedding"  # it is mid-build now
        proc.stdout.readline()
    finally:
        proc.kill()  # SIGKILL: no cleanup, no finally blocks
        proc.wait(timeout=30)
    after = ix.load(config)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)
    ix.build(config, fake)  # the lock died with the process; building again works


def test_sentence_vectors_come_from_their_chunk_when_the_embedder_can(config):
    from conftest import FakeLateEmbedder

    late = FakeLateEmbedder()
    ix.build(config, late, full=True)
    loaded = ix.load(config)
    assert len(late.embedded) == len(loaded.chunks)  # one pass over the chunks, nothing else
    plain = FakeEmbedder()
    for s, v in zip(loaded.sentences, loaded.sentence_vectors):
        assert np.allclose(v, plain._vec(s.text))  # each span vector landed on its own sentence


def test_forced_hnsw_index_is_recorded_and_restored(config, fake):
    from rag import index as ix

    cfg = config.with_values(ann="hnsw")
    ix.build(cfg, fake)
    index = ix.load(cfg)
    assert index.manifest["faiss"]["type"] == "hnsw"
    assert index.manifest["faiss"]["factory"].startswith("HNSW")
    assert "efSearch" in index.manifest["faiss"]["params"]
    q = fake.embed_query("رسوم حجز سيارة رودستر")
    exact = np.argsort(-(np.asarray(index.vectors) @ q))[:5]  # an exact scan of the stored vectors
    assert [i for i, _ in index.search_dense(q, 5)][0] == exact[0]


def test_small_corpus_stays_exact(config, fake):
    from rag import index as ix

    ix.build(config, fake)
    assert ix.load(config).manifest["faiss"]["type"] == "flat"


def test_bad_index_type_is_a_config_error():
    from rag.config import Config
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="index type"):
        Config.load(env={"SANAD_ANN": "annoy"})


def test_without_leaves_sources_out_everywhere(config, fake):
    from rag import index as ix

    ix.build(config, fake)
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


class _ShuffledRunner:
    """A runner that returns its jobs' results in reverse order (as a Ray
    pool may), optionally failing after ``fail_after`` results."""

    late = False

    def __init__(self, embedder, fail_after=None):
        self.embedder, self.fail_after = embedder, fail_after

    def run(self, jobs):
        from rag.embedding import run_job

        for n, i in enumerate(reversed(range(len(jobs)))):
            if self.fail_after is not None and n >= self.fail_after:
                raise ix.SanadError("the cluster went away")
            yield i, run_job(self.embedder, jobs[i], 16)


def test_a_runner_may_return_results_in_any_order(config, tmp_path):
    ix.build(config, FakeEmbedder())
    reference = ix.load(config)
    other = config.with_values(index_dir=tmp_path / "other")
    ix.build(other, None, runner=_ShuffledRunner(FakeEmbedder()))
    loaded = ix.load(other)
    assert [c.text for c in loaded.chunks] == [c.text for c in reference.chunks]
    assert np.allclose(loaded.vectors, reference.vectors)
    assert np.allclose(loaded.sentence_vectors, reference.sentence_vectors)


def test_a_failing_runner_leaves_the_previous_index(config):
    ix.build(config, FakeEmbedder())
    before = ix.current_generation(config.index_dir).name
    (config.sources_dir / "new.md").write_text("مقال جديد عن الطاقة الشمسية في المغرب.\n" * 5, encoding="utf-8")
    with pytest.raises(ix.SanadError, match="went away"):
        ix.build(config, None, runner=_ShuffledRunner(FakeEmbedder(), fail_after=1), full=True)
    assert ix.current_generation(config.index_dir).name == before
    assert not ix.load(config, check_sources=False).sources.get("new")


def test_staleness_is_checked_on_bytes_without_extracting(config, monkeypatch):
    """A saved page or PDF is slow to extract: checking an index against the
    folder hashes the files and reads none of them as articles. A skipped
    file (here an empty one) is recorded too, so it is not "new" ever after."""
    (config.sources_dir / "empty.md").write_text("", encoding="utf-8")
    ix.build(config, FakeEmbedder())
    import rag.sources

    def no_reading(path):
        raise AssertionError(f"extracted {path}")

    monkeypatch.setattr(rag.sources, "read_file", no_reading)
    ix.load(config)  # up to date, without extraction
    (config.sources_dir / "empty.md").write_text("عنوان", encoding="utf-8")
    with pytest.raises(IndexStale, match="file 'empty.md' changed"):
        ix.load(config)


def test_an_index_without_file_fingerprints_is_checked_by_reading(config):
    """Indexes built before fingerprints were recorded still load."""
    ix.build(config, FakeEmbedder())
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
    ix.build(config, FakeEmbedder())
    small = ix.load(config)
    assert small.sentence_ann is None and not (small.path / "sentences.faiss").exists()
    assert small.manifest["sentence_search"]["type"] == "flat"
    big_config = config.with_values(ann="hnsw")
    ix.build(big_config, FakeEmbedder(), full=True)
    big = ix.load(big_config)
    assert big.sentence_ann is not None and big.sentence_ann.ntotal == len(big.sentences)
    assert big.manifest["sentence_search"]["type"] == "hnsw"
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


def test_watch_builds_on_start_and_again_when_a_file_changes(config):
    reports, errors, calls = [], [], [0]

    def stop():
        calls[0] += 1
        if calls[0] == 5:
            (config.sources_dir / "new.md").write_text("مقال جديد عن الطاقة الشمسية.", encoding="utf-8")
        return len(reports) >= 2 or calls[0] > 500

    ix.watch(config, FakeEmbedder(), 0.01, stop, on_build=reports.append, on_error=errors.append)
    assert not errors
    assert len(reports) == 2 and len(reports[0].embedded) == 5 and reports[1].embedded == ("new",)
    assert ix.needs_build(config) == []


def test_watch_reports_a_failing_build_once(config):
    for f in config.sources_dir.iterdir():
        f.write_bytes(b"\x00\x01binary")  # nothing readable: the build fails
    errors, calls = [], [0]

    def stop():
        calls[0] += 1
        return calls[0] > 50

    ix.watch(config, FakeEmbedder(), 0.01, stop, on_error=errors.append)
    assert len(errors) == 1 and isinstance(errors[0], SourceError)
    assert ix.needs_build(config) == ["there is no index yet"]
