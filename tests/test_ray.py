"""The distributed build (rag/index/ray_embedding.py) on a real local Ray cluster:
a head node and a worker node, each a real raylet with its own processes
(ray.cluster_utils.Cluster, Ray's own way to run several nodes on one
machine), and ``rag index --ray ADDRESS`` as a user runs it.

Each node has one CPU, so the two embedding actors land one on each node.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rag.index.index as ix
import rag.index.build as bx
from rag.config import Config
from rag.index.embedding import EmbedJob, LocalRunner, SentenceTransformerEmbedder
from rag.errors import ClusterError
from rag.index.ray_embedding import RayRunner, _groups
from rag.index.store import Store, StoreState

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.model]
ROOT = Path(__file__).resolve().parents[1]
RAG = str(Path(sys.executable).parent / "rag")


def test_groups_keep_sources_whole_and_in_order():
    jobs = [EmbedJob(tuple("c" * n for _ in range(n)), (), ()) for n in (3, 70, 1, 1, 62, 5)]
    groups = _groups(jobs, size=64)
    assert [i for g in groups for i in g] == list(range(len(jobs)))
    assert groups == [[0, 1], [2, 3, 4], [5]]


def test_missing_cluster_is_a_clear_error(tmp_path):
    runner = RayRunner(Config(), "127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(ClusterError, match="cannot reach the Ray cluster"):
        list(runner.run([EmbedJob(("نص",), ((),), ())]))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Fifteen articles (the five seed articles, each in three versions with
    its own first line): ~125 chunks, a build of some seconds."""
    folder = tmp_path_factory.mktemp("ray-sources")
    for src in sorted((ROOT / "sources").glob("*.md")):
        text = src.read_text(encoding="utf-8")
        for k in range(3):
            (folder / f"{src.stem}-{k}.md").write_text(f"نسخة رقم {k} من المقال.\n\n{text}", encoding="utf-8")
    return folder


def _config(sources: Path, index: Path) -> Config:
    return Config.load(env={}, sources_dir=str(sources), index_dir=str(index))


@pytest.fixture(scope="module")
def local_build(corpus, tmp_path_factory):
    """The reference: the same corpus built in this process, no Ray."""
    index = tmp_path_factory.mktemp("ray-local") / "index"
    config = _config(corpus, index)
    bx.build(config, SentenceTransformerEmbedder.from_config(config))
    return index


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c, worker
    c.shutdown()


def _rag_index(corpus: Path, index: Path, address: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "SANAD_SOURCES": str(corpus), "SANAD_INDEX": str(index)}
    return subprocess.Popen([RAG, "index", "--ray", address], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def _store(index: Path) -> Store:
    manifest = ix.read_manifest(index)
    return Store(index / manifest["store"]["name"], StoreState.from_json(manifest["store"]))


def _same_vectors(a: Path, b: Path) -> None:
    sa, sb = _store(a), _store(b)
    assert sa.lines("chunks.jsonl") == sb.lines("chunks.jsonl")
    for name in ("vectors.f32", "sentence_vectors.f32"):
        va, vb = np.asarray(sa.array(name)), np.asarray(sb.array(name))
        assert va.shape == vb.shape
        cos = (va * vb).sum(1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
        assert cos.min() >= 0.9999, (name, float(cos.min()))


def _actor_processes() -> dict[int, str]:
    """pid -> process title of every Ray embedding actor on this machine."""
    out = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::_Actor"):
                out[int(proc.name)] = title
    return out


def _busy_actor(before: set[int]):
    """A function giving the pids of this build's actors that are embedding
    (actors of an earlier test's cluster may still be shutting down)."""
    return lambda: [p for p, t in _actor_processes().items() if ".embed" in t and p not in before]


def _wait_for(predicate, timeout: float, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail("the build ended before the test could act:\n" + proc.communicate()[0])
        time.sleep(0.2)
    proc.kill()
    pytest.fail("timed out:\n" + proc.communicate()[0])


def test_ray_build_equals_local_build(cluster, corpus, local_build, tmp_path):
    c, _ = cluster
    index = tmp_path / "index"
    proc = _rag_index(corpus, index, c.address)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "Indexed 15 sources (15 embedded" in out
    _same_vectors(local_build, index)
    # the generation is a normal one: it loads, and a rerun embeds nothing
    ix.load(_config(corpus, index))
    again = _rag_index(corpus, index, c.address)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "(0 embedded, 15 unchanged)" in out, out


def test_killed_worker_still_completes_the_index(cluster, corpus, local_build, tmp_path):
    c, _ = cluster
    index = tmp_path / "index"
    before = set(_actor_processes())
    proc = _rag_index(corpus, index, c.address)
    busy = _wait_for(_busy_actor(before), 300, proc)
    os.kill(busy[0], signal.SIGKILL)  # Ray restarts the actor and runs its task again
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    _same_vectors(local_build, index)


def test_cluster_lost_mid_build_leaves_the_previous_index(cluster, corpus, local_build, tmp_path):
    c, worker = cluster
    index = tmp_path / "index"
    shutil.copytree(local_build, index, symlinks=True)
    before = ix.current_generation(index).name
    (corpus / "extra.md").write_text("مقال جديد عن الذكاء الاصطناعي في الخليج.\n" * 40, encoding="utf-8")
    try:
        running = set(_actor_processes())
        proc = _rag_index(corpus, index, c.address)
        _wait_for(_busy_actor(running), 300, proc)
        c.shutdown()  # every node, head included
        out, _ = proc.communicate(timeout=300)
    finally:
        (corpus / "extra.md").unlink()
    assert proc.returncode != 0, out
    # our one-line error (ClusterError), or the driver ended by Ray when its cluster went away
    assert "error: " in out or proc.returncode < 0, out
    assert ix.current_generation(index).name == before
    ix.load(_config(corpus, index))  # the previous index, whole (the extra article is gone again)
    assert not [p for p in index.iterdir() if p.name.startswith("gen-") and p.name != before]


def test_local_runner_and_ray_runner_agree_in_process(corpus, tmp_path):
    """The runner API without the CLI: a private local instance ("local")."""
    config = _config(corpus, tmp_path / "index")
    texts = tuple((corpus / "musk-altman-feud-overview-0.md").read_text(encoding="utf-8").split("\n\n")[:6])
    jobs = [EmbedJob(texts[:3], ((), (), ()), texts[3:4]), EmbedJob(texts[4:], ((), ()), ())]
    local = dict(LocalRunner(SentenceTransformerEmbedder.from_config(config)).run(jobs))
    remote = dict(RayRunner(config, "local", actors=1).run(jobs))
    assert sorted(remote) == [0, 1]
    for n in (0, 1):
        assert np.allclose(local[n].chunks, remote[n].chunks, atol=1e-4)
        assert np.allclose(local[n].alone, remote[n].alone, atol=1e-4) or not jobs[n].alone


def test_a_cluster_without_cpus_is_a_clear_error():
    """An actor that can never be placed would wait for ever: refuse up front."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        with pytest.raises(ClusterError, match="has no CPU"):
            list(RayRunner(Config(), c.address).run([EmbedJob(("نص",), ((),), ())]))
    finally:
        c.shutdown()
