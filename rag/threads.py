"""Thread pools: while a question is answered, torch owns the cores.

Three libraries bring their own thread pools: torch (OpenMP) runs the
embedding model and the reader; numpy (OpenBLAS) scores sentence vectors;
FAISS (its own OpenBLAS and OpenMP) searches. Each pool's threads spin for a
while after their work, waiting for more. On a 2-core machine the idle
spinners of numpy and FAISS steal the cores torch needs next: measured
before this module (issue 11), a question's embedding took 26-44 ms over the
five articles but 110-130 ms over ~600 paragraphs, and 26-40 ms on both with
``OPENBLAS_NUM_THREADS=1``. The vector work per question is small (one query
against at most a few hundred thousand rows), so one thread does it without
loss.

``answering()`` limits the BLAS pools and FAISS's OpenMP pool to one thread
for the duration of a question, through threadpoolctl, and leaves torch's
pool alone. It is scoped, not global: an embedding build, or the caller's own
numpy work outside a question, keeps every thread.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_lock = threading.Lock()
_find_lock = threading.Lock()
_controller = None
_enabled = True


def _pools():
    """The BLAS pools (numpy's, FAISS's) and FAISS's OpenMP pool, found once
    after the libraries are loaded."""
    global _controller
    if _controller is None:
        with _find_lock:
            if _controller is None:
                from threadpoolctl import ThreadpoolController

                controller = ThreadpoolController()
                paths = [c.filepath for c in controller.lib_controllers
                         if c.user_api == "blas" or (c.internal_api == "openmp" and "faiss" in c.filepath)]
                _controller = controller.select(filepath=paths)
    return _controller


def set_enabled(on: bool) -> None:
    """Turn the limit off (for benchmarks comparing with and without)."""
    global _enabled
    _enabled = on


_active = 0  # questions being answered now, across threads
_limiter = None


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Limit the pools while any question is being answered: the first
    question in sets the limit, the last one out restores the originals."""
    global _active, _limiter
    pools = _pools() if _enabled else None
    with _lock:
        if _active == 0 and pools is not None:
            _limiter = pools.limit(limits=1)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def busy() -> bool:
    """Whether a question is being answered now, in any thread: work done
    ahead of questions waits while it is (``Sanad.warm_english``)."""
    return _active > 0
