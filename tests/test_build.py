"""Building the index (rag/index/build.py): appends, crashes, compaction, watching."""
import os

import numpy as np
import pytest

from rag.index import index as ix
from rag.index import build as bx
from rag.index import store
from rag.errors import IndexLocked, IndexStale, SourceError, SanadError
from conftest import FakeEmbedder


def test_incremental_rebuild_embeds_only_what_changed(config, fake, corpus):
    bx.build(config, fake)
    first = len(fake.embedded)

    again = FakeEmbedder()
    report = bx.build(config, again)
    assert again.embedded == [] and len(report.reused) == 5  # nothing changed, nothing embedded

    edited = corpus / "musk-stargate-uae.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "\nفقرة جديدة أضيفت إلى المقال.\n", encoding="utf-8")
    (corpus / "altman-musk-2016-video.md").unlink()
    third = FakeEmbedder()
    report = bx.build(config, third)
    assert report.embedded == ("musk-stargate-uae",) and report.removed == ("altman-musk-2016-video",)
    assert 0 < len(third.embedded) < first
    loaded = ix.load(config)
    assert "altman-musk-2016-video" not in {c.source_id for c in loaded.chunks}
    assert any("فقرة جديدة" in c.text for c in loaded.chunks)
    # reused vectors are exactly what a full rebuild computes
    full = bx.build(config, FakeEmbedder(), full=True)
    assert full.embedded and ix.load(config).vectors.shape == loaded.vectors.shape
    assert np.allclose(ix.load(config).vectors, loaded.vectors)


def test_a_rebuild_does_not_extract_unchanged_files_again(config, fake, corpus, monkeypatch):
    import shutil

    from conftest import ROOT
    from rag.ingest import sources as src

    shutil.copy(ROOT / "tests" / "fixtures" / "formats" / "xai-funding.html", corpus / "xai-funding.html")
    (corpus / "export.jsonl").write_text(
        '{"id": "a1", "title": "خبر", "text": "أعلنت الشركة عن نتائجها السنوية في مؤتمر صحفي عقد أمس."}\n'
        "{not json\n", encoding="utf-8")
    first = bx.build(config, fake)
    before = ix.load(config).sources

    reads: list[str] = []
    real = src.read_file
    monkeypatch.setattr(src, "read_file", lambda path: reads.append(path.name) or real(path))
    again = bx.build(config, FakeEmbedder())
    assert reads == []  # every file unchanged: nothing extracted, nothing embedded
    assert [str(e) for e in again.skipped] == [str(e) for e in first.skipped]  # the bad line is still named
    assert any("line 2" in str(e) for e in again.skipped)
    after = ix.load(config).sources
    assert {k: (s.text, s.title, s.sha256, dict(s.meta)) for k, s in after.items()} == \
        {k: (s.text, s.title, s.sha256, dict(s.meta)) for k, s in before.items()}

    moved = corpus.parent / "moved"  # the folder moved: its unchanged files are still not read
    corpus.rename(moved)
    report = bx.build(config.with_values(sources_dir=moved), FakeEmbedder())
    assert reads == [] and report.embedded == ()
    assert all(e["path"].startswith(str(moved)) for e in
               ix.generation_manifest(ix.current_generation(config.index_dir))["sources"].values())
    moved.rename(corpus)

    page = corpus / "xai-funding.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</article>", "<p>فقرة أضيفت لاحقًا إلى الخبر.</p>"
                                                            "</article>", 1), encoding="utf-8")
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 10**10))
    bx.build(config, FakeEmbedder())
    assert reads == ["xai-funding.html"]  # only the changed file is read
    assert "فقرة أضيفت لاحقًا" in ix.load(config).sources["xai-funding"].text


def test_old_generations_are_removed_after_one_build_of_grace(config, fake):
    bx.build(config, fake)
    first = ix.current_generation(config.index_dir)
    bx.build(config, fake, full=True)
    second = ix.current_generation(config.index_dir)
    gens = {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {first, second}  # the replaced one stays for apps still reading it
    bx.build(config, fake, full=True)
    gens = {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")}
    assert gens == {second, ix.current_generation(config.index_dir)}


def test_interrupted_build_leaves_previous_index_usable(config, fake, corpus):
    bx.build(config, fake)
    before = ix.load(config, check_sources=False)
    (corpus / "new.md").write_text("مقال جديد عن سباق الذكاء الاصطناعي. " * 80, encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        bx.build(config, FakeEmbedder(fail_after=1), full=True)
    after = ix.load(config, check_sources=False)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)
    with pytest.raises(IndexStale, match="'new.md' is new"):
        ix.load(config)  # and it says the sources moved on


@pytest.mark.parametrize("where", ["store", "generation"])
def test_crash_while_writing_leaves_previous_index(config, fake, monkeypatch, corpus, where):
    bx.build(config, fake)
    before = ix.load(config).path
    calls = []

    def boom(self, name, data, rows=0):
        calls.append(name)
        if len(calls) > 3:  # some rows are already appended: a disk that fills up mid-write
            raise OSError(28, "No space left on device")
        original(self, name, data, rows)

    def no_manifest(path, data):
        raise OSError(28, "No space left on device")

    original = store.Appender._write
    if where == "store":
        monkeypatch.setattr(store.Appender, "_write", boom)
    else:  # the store is appended, the generation's manifest cannot be written
        monkeypatch.setattr(bx, "_write_bytes", no_manifest)
    (corpus / "new.md").write_text("نص جديد.", encoding="utf-8")
    with pytest.raises(OSError):
        bx.build(config, fake)
    monkeypatch.undo()
    assert ix.load(config, check_sources=False).path == before
    report = bx.build(config, fake)  # cuts the half-appended rows off and cleans up a half-written generation
    assert report.embedded == ("new",)
    loaded = ix.load(config)
    assert "new" in loaded.sources and loaded.path != before
    state = loaded.manifest["store"]
    for name, size in state["bytes"].items():
        assert (config.index_dir / state["name"] / name).stat().st_size == size
    assert {p for p in config.index_dir.iterdir() if p.name.startswith("gen-")} == {before, loaded.path}


def test_bad_source_is_skipped_others_indexed(config, fake, corpus):
    (corpus / "broken.txt").write_bytes("نص".encode("cp1256"))
    report = bx.build(config, fake)
    assert report.sources == 5 and [e.path for e in report.skipped] == [str(corpus / "broken.txt")]


def test_no_usable_sources_is_an_error(config, fake, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no readable"):
        bx.build(config.with_values(sources_dir=empty), fake)


def test_second_concurrent_build_is_refused(config, fake):
    with bx.build_lock(config.index_dir):
        pid = os.fork()
        if pid == 0:  # another process tries to build meanwhile
            try:
                bx.build(config, FakeEmbedder())
                os._exit(0)
            except IndexLocked:
                os._exit(42)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 42


def test_renamed_source_keeps_vectors_under_its_new_id(config, fake, corpus):
    bx.build(config, fake)
    (corpus / "musk-stargate-uae.md").rename(corpus / "stargate.md")
    again = FakeEmbedder()
    report = bx.build(config, again)
    assert again.embedded == [] and report.removed == ("musk-stargate-uae",)
    loaded = ix.load(config)
    ids = [c.id for c in loaded.chunks if c.source_id == "stargate"]
    assert ids and ids == [f"stargate#{n}" for n in range(len(ids))]



def test_a_renamed_source_whose_stored_rows_do_not_match_is_embedded_again(config, fake, corpus, monkeypatch):
    bx.build(config, fake)
    (corpus / "musk-stargate-uae.md").rename(corpus / "stargate.md")
    # the store's rows for it no longer match its text (a damaged store): copying them must not happen
    monkeypatch.setattr(bx._Previous, "entry", lambda self, source, placed: None)
    again = FakeEmbedder()
    report = bx.build(config, again)
    assert report.embedded == ("stargate",) and again.embedded
    loaded = ix.load(config)
    assert [c.id for c in loaded.chunks if c.source_id == "stargate"][0] == "stargate#0"


SLOW_BUILD = """
import sys, time
sys.path.insert(0, {tests!r})
from conftest import FakeEmbedder
from rag.index import build as bx
from rag.config import Config

class Slow(FakeEmbedder):
    def embed_passages(self, texts):
        print("embedding", flush=True)
        time.sleep(0.5)
        return super().embed_passages(texts)

config = Config.load(env={{}}, sources_dir={sources!r}, index_dir={index!r}, model="fake-bow")
bx.build(config, Slow(), full=True)
"""


def test_kill_9_mid_build_leaves_previous_index_loadable(config, fake, corpus):
    import subprocess
    import sys
    from pathlib import Path

    bx.build(config, fake)
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
    bx.build(config, fake)  # the lock died with the process; building again works


def test_sentence_vectors_come_from_their_chunk_when_the_embedder_can(config):
    from conftest import FakeLateEmbedder

    late = FakeLateEmbedder()
    bx.build(config, late, full=True)
    loaded = ix.load(config)
    assert len(late.embedded) == len(loaded.chunks)  # one pass over the chunks, nothing else
    plain = FakeEmbedder()
    for s, v in zip(loaded.sentences, loaded.sentence_vectors):
        assert np.allclose(v, plain._vec(s.text))  # each span vector landed on its own sentence


def test_chunks_are_embedded_after_their_title_and_spans_still_find_their_sentences(config):
    from rag.ingest.sources import Source

    text = ("كشفت شبكة CNBC أن ماسك حاول عرقلة مشروع ستارجيت. " * 12 + "\n\nوقال مسؤول إن المشروع مستمر.").strip()
    titled = Source("stargate", "ماسك   وستارجيت\nفي الإمارات", text, "stargate.md", "h")
    assert bx.passage_header(titled) == "ماسك وستارجيت في الإمارات\n"  # one line, spaces collapsed
    assert bx.passage_header(Source("stargate", "stargate", text, "stargate.md", "h")) == ""  # a file name
    entry = bx._chunked(config, titled)
    assert len(entry.chunks) > 1
    for titles in (True, False):
        job, home, _ = bx._job(entry, late=True, titled=titles)
        header = bx.passage_header(titled) if titles else ""
        for ci, c in enumerate(entry.chunks):
            assert job.chunks[ci] == header + c.text
            # every span, shifted past the header, still cuts out exactly its sentence
            assert [job.chunks[ci][a:b] for a, b in job.spans[ci]] == [entry.sentences[k].text for k in home[ci]]


class _ShuffledRunner:
    """A runner that returns its jobs' results in reverse order (as a Ray
    pool may), optionally failing after ``fail_after`` results."""

    late = False

    def __init__(self, embedder, fail_after=None):
        self.embedder, self.fail_after = embedder, fail_after

    def run(self, jobs):
        from rag.index.embedding import run_job

        for n, i in enumerate(reversed(range(len(jobs)))):
            if self.fail_after is not None and n >= self.fail_after:
                raise SanadError("the cluster went away")
            yield i, run_job(self.embedder, jobs[i], 16)


def test_a_runner_may_return_results_in_any_order(config, tmp_path):
    bx.build(config, FakeEmbedder())
    reference = ix.load(config)
    other = config.with_values(index_dir=tmp_path / "other")
    bx.build(other, None, runner=_ShuffledRunner(FakeEmbedder()))
    loaded = ix.load(other)
    assert [c.text for c in loaded.chunks] == [c.text for c in reference.chunks]
    # the store's rows are written in the local build's order too (reproducible, and what the Ray tests compare)
    assert loaded.store.lines("chunks.jsonl") == reference.store.lines("chunks.jsonl")
    assert np.array_equal(np.asarray(loaded.store.array("vectors.f32")), np.asarray(reference.store.array("vectors.f32")))
    assert np.allclose(loaded.vectors, reference.vectors)
    assert np.allclose(loaded.sentence_vectors, reference.sentence_vectors)


def test_a_failing_runner_leaves_the_previous_index(config):
    bx.build(config, FakeEmbedder())
    before = ix.current_generation(config.index_dir).name
    (config.sources_dir / "new.md").write_text("مقال جديد عن الطاقة الشمسية في المغرب.\n" * 5, encoding="utf-8")
    with pytest.raises(SanadError, match="went away"):
        bx.build(config, None, runner=_ShuffledRunner(FakeEmbedder(), fail_after=1), full=True)
    assert ix.current_generation(config.index_dir).name == before
    assert not ix.load(config, check_sources=False).sources.get("new")


def test_watch_builds_on_start_and_again_when_a_file_changes(config):
    reports, errors, calls = [], [], [0]

    def stop():
        calls[0] += 1
        if calls[0] == 5:
            (config.sources_dir / "new.md").write_text("مقال جديد عن الطاقة الشمسية.", encoding="utf-8")
        return len(reports) >= 2 or calls[0] > 500

    bx.watch(config, FakeEmbedder(), 0.01, stop, on_build=reports.append, on_error=errors.append)
    assert not errors
    assert len(reports) == 2 and len(reports[0].embedded) == 5 and reports[1].embedded == ("new",)
    assert bx.needs_build(config) == []


def test_watch_reports_a_failing_build_once(config):
    for f in config.sources_dir.iterdir():
        f.write_bytes(b"\x00\x01binary")  # nothing readable: the build fails
    errors, calls = [], [0]

    def stop():
        calls[0] += 1
        return calls[0] > 50

    bx.watch(config, FakeEmbedder(), 0.01, stop, on_error=errors.append)
    assert len(errors) == 1 and isinstance(errors[0], SourceError)
    assert bx.needs_build(config) == ["there is no index yet"]


def _same_answers(a, b, fake) -> None:
    """Two loaded indexes over the same sources find the same chunks,
    BM25 scores and sentences for a spread of questions."""
    assert sorted(c.id for c in a.chunks) == sorted(c.id for c in b.chunks)
    for q in ["كم بلغت رسوم حجز سيارة رودستر؟", "ماذا قال ماسك عن ألتمان", "استثمار إنفيديا في xAI",
              "مشروع ستارغيت في الإمارات", "صقر عربي جديد"]:
        v = fake.embed_query(q)
        n = len(a.chunks)  # all of them: equal scores may come in another order at a cut-off
        da, db = a.search_dense(v, n), b.search_dense(v, n)
        assert sorted((round(s, 5), a.chunks[i].id) for i, s in da) == sorted(
            (round(s, 5), b.chunks[i].id) for i, s in db)
        ba, bb = a.search_bm25(q, n), b.search_bm25(q, n)
        assert sorted((round(s, 4), a.chunks[i].id) for i, s in ba) == sorted(
            (round(s, 4), b.chunks[i].id) for i, s in bb)
        m = len(a.sentences)
        assert sorted(a.sentences[i].text for i in a.search_sentences(v, m)) == sorted(
            b.sentences[i].text for i in b.search_sentences(v, m))
        assert np.allclose(sorted(a.sentence_scores(v, list(range(m)))), sorted(b.sentence_scores(v, list(range(m)))),
                           atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_new_article_is_appended_and_answers_as_a_full_build(config, fake, corpus, tmp_path, kind):
    cfg = config.with_values(ann=kind)
    bx.build(cfg, fake)
    first = ix.load(cfg).manifest["store"]
    folder = cfg.index_dir / first["name"]
    before = {name: (folder / name).read_bytes() for name in store.FILES}
    (corpus / "falcon.md").write_text("# صقر\n\nأطلقت الشركة صاروخ صقر العربي في 14 مارس 2027. "
                                      "وقال المدير إن Falcon حمل قمرا صناعيا.\n", encoding="utf-8")
    again = FakeEmbedder()
    report = bx.build(cfg, again)
    falcon = [c for c in ix.load(cfg).chunks if c.source_id == "falcon"]
    # only the new article's chunks, each after its title line, and its sentences (embedded alone)
    assert report.embedded == ("falcon",) and report.embedded_chunks == len(falcon)
    assert [t for t in again.embedded if t.startswith("صقر\n")] == [f"صقر\n{c.text}" for c in falcon]
    grown = ix.load(cfg)
    assert grown.manifest["store"]["name"] == first["name"]  # the same files, longer
    for name in store.FILES:
        assert (folder / name).read_bytes()[: len(before[name])] == before[name]
    assert grown.faiss_index.ntotal == len(grown.chunks) == first["rows"]["chunks.jsonl"] + report.embedded_chunks
    assert grown.manifest["counts"]["dead_chunks"] == 0
    full = cfg.with_values(index_dir=tmp_path / "full")
    bx.build(full, FakeEmbedder())
    _same_answers(grown, ix.load(full), fake)


def test_changed_articles_leave_dead_rows_that_are_never_found(config, fake, corpus, tmp_path):
    bx.build(config, fake)
    first = ix.load(config)
    small = min(first.sources, key=lambda sid: sum(c.source_id == sid for c in first.chunks))
    path = corpus / first.sources[small].path
    path.write_text(path.read_text(encoding="utf-8") + "\nفقرة أضيفت لاحقا عن سيارة رودستر.\n", encoding="utf-8")
    bx.build(config, fake)
    edited = ix.load(config)
    dead = edited.manifest["counts"]["dead_chunks"]
    assert dead == sum(c.source_id == small for c in first.chunks) > 0
    assert edited.manifest["store"]["name"] == first.manifest["store"]["name"]
    assert edited.faiss_index.ntotal == len(edited.chunks) + dead
    # asked for every chunk, the search gives each live one once and no dead one
    everything = edited.search_dense(fake.embed_query("سيارة رودستر"), len(edited.chunks))
    assert sorted(i for i, _ in everything) == list(range(len(edited.chunks)))
    full = config.with_values(index_dir=tmp_path / "full")
    bx.build(full, FakeEmbedder())
    _same_answers(edited, ix.load(full), fake)


def test_when_dead_rows_pile_up_the_store_is_compacted(config, fake, corpus):
    bx.build(config, fake)
    stores = [ix.read_manifest(config.index_dir)["store"]["name"]]
    for n in range(6):  # edit the articles one by one until dead rows pass COMPACT_DEAD
        path = sorted(corpus.glob("*.md"))[n % 5]
        path.write_text(path.read_text(encoding="utf-8") + f"\nتحديث رقم {n}.\n", encoding="utf-8")
        bx.build(config, fake)
        manifest = ix.read_manifest(config.index_dir)
        assert manifest["counts"]["dead_chunks"] <= ix.COMPACT_DEAD * (
            manifest["counts"]["chunks"] + manifest["counts"]["dead_chunks"])
        stores.append(manifest["store"]["name"])
    assert len(set(stores)) > 1  # a new store, holding live rows only
    compacted = stores.index(stores[-1])
    assert ix.load(config).manifest["counts"]["chunks"] > 0
    on_disk = {p.name for p in config.index_dir.iterdir() if p.name.startswith("store-")}
    assert stores[0] not in on_disk or compacted == len(stores) - 1  # the old store goes after one build of grace
    bx.build(config, fake)
    assert {p.name for p in config.index_dir.iterdir() if p.name.startswith("store-")} == {stores[-1]}



class _BatchRecorder:
    """A runner that logs each call (its number of jobs) into ``events``,
    where the tests also log every source appended to the store."""

    late = False

    def __init__(self, embedder, events, fail_on_call=None):
        self.embedder, self.events, self.fail_on_call = embedder, events, fail_on_call
        self.calls = 0

    def run(self, jobs):
        from rag.index.embedding import run_job

        self.calls += 1
        self.events.append(("embed", len(jobs)))
        if self.calls == self.fail_on_call:
            raise SanadError("the cluster went away")
        for i, job in enumerate(jobs):
            yield i, run_job(self.embedder, job, 16)


def _log_appends(monkeypatch, events):
    original = store.Appender.add
    monkeypatch.setattr(store.Appender, "add",
                        lambda self, source, *a: events.append(("append", source.id)) or original(self, source, *a))


def test_new_articles_are_embedded_and_appended_a_batch_at_a_time(config, tmp_path, monkeypatch):
    reference = config.with_values(index_dir=tmp_path / "whole")
    bx.build(reference, FakeEmbedder())
    sizes = sorted(len(p.read_text(encoding="utf-8")) for p in config.sources_dir.iterdir())
    monkeypatch.setattr(bx, "BATCH_CHARS", sizes[-1] + sizes[0])  # at most two articles a batch, one at least
    events: list = []
    _log_appends(monkeypatch, events)
    report = bx.build(config, None, runner=_BatchRecorder(FakeEmbedder(), events))
    calls = [n for kind, n in events if kind == "embed"]
    assert len(calls) >= 3 and sum(calls) == report.sources == 5 and all(1 <= n <= 2 for n in calls)
    # each batch's rows went to the store before the next batch was embedded: memory holds one batch
    for at, (kind, n) in enumerate(events):
        if kind == "embed":
            assert [k for k, _ in events[at + 1:at + 1 + n]] == ["append"] * n
    batched, whole = ix.load(config), ix.load(reference)
    assert report.chunks == len(whole.chunks) == len(batched.chunks)
    key = {c.id: i for i, c in enumerate(whole.chunks)}
    order = [key[c.id] for c in batched.chunks]
    assert [c.text for c in batched.chunks] == [whole.chunks[i].text for i in order]
    assert np.allclose(batched.vectors, whole.vectors[order])


def test_a_build_failing_after_some_batches_leaves_the_previous_index(config, fake, monkeypatch):
    bx.build(config, fake)
    before = ix.load(config)
    for n in range(3):
        (config.sources_dir / f"new-{n}.md").write_text(f"مقال جديد رقم {n} عن الطاقة الشمسية في المغرب.\n" * 5,
                                                         encoding="utf-8")
    monkeypatch.setattr(bx, "BATCH_CHARS", 1)  # one article a batch
    events: list = []
    _log_appends(monkeypatch, events)
    with pytest.raises(SanadError, match="went away"):
        bx.build(config, None, runner=_BatchRecorder(FakeEmbedder(), events, fail_on_call=3))
    assert [k for k, _ in events] == ["embed", "append", "embed", "append", "embed"]  # two were appended
    monkeypatch.undo()
    assert ix.load(config, check_sources=False).path == before.path
    report = bx.build(config, FakeEmbedder())  # cuts the orphaned rows off
    assert sorted(report.embedded) == ["new-0", "new-1", "new-2"]
    loaded = ix.load(config)
    state = loaded.manifest["store"]
    for name, size in state["bytes"].items():
        assert (config.index_dir / state["name"] / name).stat().st_size == size
    assert {c.source_id for c in loaded.chunks} == set(before.sources) | {"new-0", "new-1", "new-2"}
