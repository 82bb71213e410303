from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import Config
from rag.text import tokenize

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "sources"
SEED = ROOT.parent / "shared" / "seed-articles"


class FakeEmbedder:
    """Hashed bag of stemmed words: fast, deterministic, similar texts close.
    Counts what it embeds so tests can see what a rebuild re-embedded."""

    model_id = "fake-bow"
    dim = 64

    def __init__(self, fail_after: int | None = None):
        self.embedded: list[str] = []
        self.fail_after = fail_after

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for tok in tokenize(text) or ["<empty>"]:
            h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        return v / np.linalg.norm(v)

    def embed_passages(self, texts):
        if self.fail_after is not None and len(self.embedded) + len(texts) > self.fail_after:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        self.embedded += list(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text):
        return self._vec(text)


class FakeReader:
    """Stands in for the trained reader in fast tests: a window "answers" in
    proportion to the question's content words it holds; the short answer is
    its first number (or its first word)."""

    threshold = 0.5

    def read(self, question, windows):
        import re

        from rag.answer.question import analyze
        from rag.answer.reader import Reading

        wanted = set(analyze(question).content)
        out = []
        for w in windows:
            p = len(wanted & set(tokenize(w))) / max(1, len(wanted))
            m = re.search(r"\d[\d,.]*(?: [^\s.،]+)?", w) or re.search(r"\w+", w)
            out.append(Reading(p, m.start(), m.end(), 0.9) if m else Reading(p, 0, 0, 0.0))
        return out

    def supports(self, claim, passage, threshold=None):
        return self.read(claim, [passage])[0].p_answer >= (self.threshold if threshold is None else threshold)


def fake_reader_decider(model_id: str):
    """The fake reader deciding; the rules beside it with lenient cosine
    bars (the fake embedder's cosines are not calibrated)."""
    from rag.answer.decision import ReaderDecider
    from rag.answer.settings import AnswerSettings, Thresholds

    rules = Thresholds(min_dense=0, min_dense_latin=0)
    return ReaderDecider(FakeReader(), AnswerSettings(embedding_model=model_id, rules=rules))


def lenient_sanad(config, embedder):
    """A Sanad over the fake embedder. The fake's bag-of-words cosines are not
    calibrated, so only the lexical checks (coverage, kind of answer) decide."""
    from rag.answer.decision import RuleDecider
    from rag.pipeline import Sanad
    from rag.answer.settings import Thresholds

    return Sanad(config, embedder=embedder, decider=RuleDecider(Thresholds(min_dense=0, min_dense_latin=0)))


@pytest.fixture(scope="module")
def fake_sanad(tmp_path_factory):
    """Sanad over the real sources, indexed with the fake embedder."""
    from rag.index import build as bx

    config = Config.load(env={}, sources_dir=SOURCES, index_dir=tmp_path_factory.mktemp("fake") / "index",
                         model=FakeEmbedder.model_id)
    fake = FakeEmbedder()
    bx.build(config, fake)
    return lenient_sanad(config, fake)


@pytest.fixture
def fake():
    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A private copy of the real sources, free to edit."""
    dest = tmp_path / "sources"
    shutil.copytree(SOURCES, dest)
    return dest


@pytest.fixture
def config(tmp_path, corpus) -> Config:
    return Config.load(env={}, sources_dir=corpus, index_dir=tmp_path / "index", model=FakeEmbedder.model_id,
                       cache_dir=tmp_path / "cache")


class FakeLateEmbedder(FakeEmbedder):
    """Also offers span vectors, as the real embedder does (late chunking);
    here a span's vector is simply the vector of its text."""

    def embed_passages_with_spans(self, texts, spans):
        vecs = self.embed_passages(texts)
        return vecs, [np.stack([self._vec(t[a:b]) for a, b in s]) if s else np.zeros((0, self.dim), np.float32)
                      for t, s in zip(texts, spans)]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(tmp: Path, sources: Path, index: Path, **env_extra: str):
    """Start the real app (python app.py) on a free loopback port over
    ``sources`` and ``index``; returns (url, process, log file) once it
    listens. It builds its index on start, as a user's first run does."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "SANAD_SOURCES": str(sources),
           "SANAD_INDEX": str(index), "GRADIO_ANALYTICS_ENABLED": "False", **env_extra}
    log = open(tmp / "app.log", "w+")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"app.py exited early:\n{log.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("app.py did not start listening in time")
    return url, proc, log


def stop_app(proc, log) -> None:
    import subprocess

    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app on the project's sources, shared by the browser and load
    tests; stopped at the end of the session."""
    url, proc, log = start_app(tmp_path_factory.mktemp("log"), SOURCES, tmp_path_factory.mktemp("app") / "index")
    yield url
    stop_app(proc, log)


def store_file(index_dir: Path, name: str) -> Path:
    """A file of the live generation's row store (rag/index/store.py)."""
    import json

    manifest = json.loads((Path(index_dir) / "current" / "manifest.json").read_text(encoding="utf-8"))
    return Path(index_dir) / manifest["store"]["name"] / name
