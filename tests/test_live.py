"""Live index updates (rag/pipeline.py Sanad.refresh/watch): a running Sanad
answers from the generation `rag index` swaps in, between questions, each
answer wholly from one generation, and never from a damaged one."""
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from rag.index import index as ix
from rag.index import build as bx
from rag.config import Config
from conftest import ROOT, SOURCES, FakeEmbedder, lenient_sanad, start_app, stop_app, store_file

NEW = ("---\ntitle: فالكون للطيران تطلق رحلاتها إلى سقطرى\n---\n"
       "أعلنت شركة فالكون للطيران أن رحلتها الأولى إلى جزيرة سقطرى ستنطلق في 14 مارس 2027.\n"
       "وقالت الشركة إن سعر التذكرة سيبلغ 900 دولار ذهابًا وإيابًا.\n")
QUESTION = "متى تنطلق الرحلة الأولى لشركة فالكون للطيران إلى جزيرة سقطرى؟"
OLD_QUESTION = "كم بلغت رسوم حجز سيارة رودستر التي دفعها ألتمان؟"


@pytest.fixture
def live(config, corpus):
    fake = FakeEmbedder()
    bx.build(config, fake)
    return lenient_sanad(config, fake), fake


def _verbatim_in_own_generation(sanad, answer):
    for c in answer.citations + answer.related:
        assert sanad.source_text(c.source, answer.generation)[c.start:c.end] == c.text


def test_a_new_generation_is_answered_from_after_refresh(live, config, corpus):
    sanad, fake = live
    before = sanad.ask(QUESTION)
    old = sanad.ask(OLD_QUESTION)
    assert before.refused and not old.refused
    assert not sanad.refresh()  # nothing new yet
    (corpus / "falcon.md").write_text(NEW, encoding="utf-8")
    roadster = corpus / "musk-altman-roadster-dispute.md"  # shift every offset of an old source too
    roadster.write_text(roadster.read_text(encoding="utf-8").replace("---\n\n", "---\n\nسطر جديد في أول المقال.\n", 1),
                        encoding="utf-8")
    bx.build(config, fake)
    assert sanad.refresh() and not sanad.refresh()
    after = sanad.ask(QUESTION)
    assert not after.refused and "14 مارس 2027" in after.answer and after.citations[0].source == "falcon"
    assert after.generation != before.generation == old.generation
    _verbatim_in_own_generation(sanad, old)  # an answer given before the swap still shows its own text
    _verbatim_in_own_generation(sanad, after)
    assert old.citations[0].start != sanad.ask(OLD_QUESTION).citations[0].start


@pytest.mark.parametrize("damage", ["chunks.jsonl", "faiss.index", "manifest.json"])
def test_a_damaged_generation_is_never_picked_up(live, config, corpus, caplog, damage):
    sanad, fake = live
    served = sanad.snapshot.generation
    (corpus / "falcon.md").write_text(NEW, encoding="utf-8")
    bx.build(config, fake)
    gen = ix.current_generation(config.index_dir)
    (store_file(config.index_dir, damage) if damage.endswith(".jsonl") else gen / damage).write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="sanad.pipeline"):
        assert not sanad.refresh()
        assert not sanad.refresh()  # tried once, not every few seconds
    assert [r for r in caplog.records if gen.name in r.getMessage()]
    assert sanad.snapshot.generation == served and sanad.ask(QUESTION).refused
    assert not sanad.ask(OLD_QUESTION).refused
    bx.build(config, fake, full=True)  # a good generation after it is picked up
    assert sanad.refresh() and not sanad.ask(QUESTION).refused


def test_answers_during_swaps_each_come_from_one_generation(live, config, corpus):
    sanad, fake = live
    answers, errors, stop = [sanad.ask(OLD_QUESTION)], [], threading.Event()  # loaded before the sources change

    def ask():
        while not stop.is_set():
            try:
                answers.append(sanad.ask(OLD_QUESTION))
            except Exception as e:  # noqa: BLE001 - any failure fails the test below
                errors.append(e)

    t = threading.Thread(target=ask)
    t.start()
    roadster = corpus / "musk-altman-roadster-dispute.md"
    for n in range(3):
        roadster.write_text(roadster.read_text(encoding="utf-8").replace("---\n\n", f"---\n\nتحديث {n}.\n", 1),
                            encoding="utf-8")
        bx.build(config, fake)
        assert sanad.refresh()
    stop.set()
    t.join()
    assert not errors and len({a.generation for a in answers}) >= 2
    for a in answers:
        assert not a.refused
        _verbatim_in_own_generation(sanad, a)


def test_watch_picks_up_a_build_by_itself(live, config, corpus):
    sanad, fake = live
    stop = sanad.watch(interval=0.1)
    try:
        (corpus / "falcon.md").write_text(NEW, encoding="utf-8")
        bx.build(config, fake)
        deadline = time.time() + 10
        while sanad.ask(QUESTION).refused and time.time() < deadline:
            time.sleep(0.1)
        assert not sanad.ask(QUESTION).refused
    finally:
        stop.set()


def test_reload_interval_is_configurable():
    assert Config.load(env={"SANAD_RELOAD_SECONDS": "0"}).reload_seconds == 0
    with pytest.raises(Exception, match="reload seconds"):
        Config.load(env={"SANAD_RELOAD_SECONDS": "-1"})


@pytest.mark.model
def test_the_running_app_answers_a_new_article_after_rag_index(tmp_path):
    """The real server (gradio_client): an article added and `rag index` run
    while it serves; old questions keep their answers during the swap, and
    the new article's question is answered within seconds, no restart."""
    from gradio_client import Client

    sources, index = tmp_path / "sources", tmp_path / "index"
    shutil.copytree(SOURCES, sources)
    url, proc, log = start_app(tmp_path, sources, index, SANAD_RELOAD_SECONDS="1")
    try:
        client = Client(url, verbose=False)

        def ask(question, c=client):
            _, chat = c.predict(question, [], api_name="/ask")
            content = chat[-1]["content"]
            return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)

        assert "14 مارس 2027" not in ask(QUESTION)
        during, stop = [], threading.Event()

        def keep_asking():
            c = Client(url, verbose=False)
            while not stop.is_set():
                during.append(ask(OLD_QUESTION, c))

        t = threading.Thread(target=keep_asking)
        t.start()
        (sources / "falcon.md").write_text(NEW, encoding="utf-8")
        env = {"SANAD_SOURCES": str(sources), "SANAD_INDEX": str(index)}
        r = subprocess.run([sys.executable, "-m", "rag", "index"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600, env={**os.environ, **env})
        assert r.returncode == 0, r.stderr[-2000:]
        deadline, reply = time.time() + 30, ""
        while time.time() < deadline:
            reply = ask(QUESTION)
            if "14 مارس 2027" in reply:
                break
            time.sleep(1)
        stop.set()
        t.join(timeout=120)
        assert "14 مارس 2027" in reply and "class='refusal'" not in reply
        assert during and all("50 ألف دولار" in x for x in during)
    finally:
        stop_app(proc, log)
