"""User mistakes on the command line: one clear line, non-zero exit, no traceback."""
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import ROOT


def rag(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env=env)


@pytest.mark.parametrize("args, message", [
    (["index", "--sources", "/no/such/folder"], "the sources folder /no/such/folder does not exist"),
])
def test_user_errors_are_one_line(args, message, tmp_path):
    r = rag(*args, "--index", str(tmp_path / "ix"))
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: {message}"
    assert "Traceback" not in r.stderr


def test_folder_without_articles(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "notes.pdf").write_bytes(b"%PDF-1.4")
    r = rag("index", "--sources", str(tmp_path / "src"), "--index", str(tmp_path / "ix"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no readable articles in this folder (it reads .txt, .md, .html" in r.stderr


def test_bad_environment_value(tmp_path):
    import os

    r = rag("index", env={**os.environ, "SANAD_CHUNK_SIZE": "huge"})
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_unknown_command_and_help():
    assert rag("frobnicate").returncode == 2
    h = rag("index", "--help")
    assert h.returncode == 0 and "--full" in h.stdout and "--sources" in h.stdout


def test_import_rag_does_not_import_torch():
    code = "import sys, rag, rag.index.index, rag.index.embedding, rag.cli; print('torch' in sys.modules, 'faiss' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False False", out.stderr


def test_status_reports_missing_then_stale_index(tmp_path):
    import shutil

    from conftest import FakeEmbedder, SOURCES
    from rag.index import build as bx
    from rag.config import Config

    src = tmp_path / "src"
    shutil.copytree(SOURCES, src)
    args = ["status", "--sources", str(src), "--index", str(tmp_path / "ix"), "--model", FakeEmbedder.model_id]
    r = rag(*args)
    assert r.returncode == 1 and "there is no index" in r.stderr and "rag index" in r.stderr

    config = Config.load(env={}, sources_dir=src, index_dir=tmp_path / "ix", model=FakeEmbedder.model_id)
    bx.build(config, FakeEmbedder())
    r = rag(*args)
    assert r.returncode == 0 and "up to date" in r.stdout and "fake-bow (64 dimensions)" in r.stdout

    (src / "musk-stargate-uae.md").unlink()
    (src / "new.txt").write_text("مقال جديد.", encoding="utf-8")
    r = rag(*args)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [
        "error: the index is out of date; run 'rag index' to update it:",
        "  - file 'new.txt' is new and not indexed yet",
        "  - file 'musk-stargate-uae.md' was removed but is still in the index",
    ]


def test_ask_needs_a_question(tmp_path):
    r = rag("ask", "  ", "--index", str(tmp_path / "ix"))
    assert r.returncode == 1 and r.stderr.strip() == "error: the question is empty (give one, or use --jsonl)"


def test_watch_needs_positive_seconds(tmp_path):
    r = rag("index", "--watch", "0", "--index", str(tmp_path / "ix"))
    assert r.returncode == 1 and r.stderr.strip() == "error: --watch wants a number of seconds above 0 (got 0.0)"


@pytest.mark.model
def test_index_watch_rebuilds_on_a_new_file_until_interrupted(tmp_path):
    """rag index --watch with the real model: builds, sees a new article
    within its interval, builds again, and stops cleanly on Ctrl-C."""
    import os
    import shutil
    import signal
    import time

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "sources" / "musk-stargate-uae.md", src)
    env = {**os.environ, "SANAD_SOURCES": str(src), "SANAD_INDEX": str(tmp_path / "ix")}
    proc = subprocess.Popen([sys.executable, "-m", "rag", "index", "--watch", "0.5"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("Indexed 1 sources (1 embedded"), first
        (src / "new.md").write_text("# خبر جديد\n\nافتتحت شركة ناشئة مركز بيانات جديدا في الرياض.", encoding="utf-8")
        second = proc.stdout.readline()
        assert second.startswith("Indexed 2 sources (1 embedded, 1 unchanged)"), second
        time.sleep(1.5)  # unchanged folder: no third build
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and out == "" and "stopped watching" in err and "Traceback" not in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped interrupt
def test_watch_stops_when_the_interrupt_is_swallowed(monkeypatch, capsys):
    """Ctrl-C that lands inside a finalizer: Python prints "Exception
    ignored in ..." and drops the KeyboardInterrupt, so the watch loop must
    also see the interrupt through its stop flag (rag/cli.py ``_watch``)."""
    import os
    import signal
    import time
    from types import SimpleNamespace

    import rag.index.build
    from rag.cli import _watch

    seen = {}

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside __del__, and its exception is dropped

    def fake_watch(config, embedder, interval, stop, **kwargs):
        Finalized()
        deadline = time.monotonic() + 5
        while not stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["stopped"] = stop()

    monkeypatch.setattr(rag.index.build, "watch", fake_watch)
    before = signal.getsignal(signal.SIGINT)
    assert _watch(SimpleNamespace(sources_dir="sources"), None, 0.5) == 0
    assert seen == {"stopped": True}
    assert "stopped watching" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is back


def test_an_answer_marked_uncertain_is_printed_with_its_warning_first(capsys):
    from rag.answer.compose import UNCERTAIN, Answer, Citation
    from rag.cli import _print_answer

    answer = Answer("س؟", "450 مليون ريال\nبتكلفة بلغت 450 مليون ريال. [1]", False,
                    (Citation(1, "museum", "متحف", "بتكلفة بلغت 450 مليون ريال.", 0, 27),))
    _print_answer(answer)
    assert UNCERTAIN not in capsys.readouterr().out
    _print_answer(replace(answer, uncertain=True))
    out = capsys.readouterr().out
    assert out.startswith(f"({UNCERTAIN})\n450 مليون ريال\n") and "[1] متحف (museum, 0-27)" in out
    other = Citation(1, "museum", "متحف", "ويستقبل الزوار يوميًا من الساعة العاشرة صباحًا.", 28, 75)
    _print_answer(replace(answer, uncertain=True, related=(other,)))
    assert "\nمقاطع أخرى قد تجيب عن سؤالك:\n- متحف (museum): ويستقبل الزوار" in capsys.readouterr().out
