"""rag/threads.py: numpy's and FAISS's pools are limited to one thread
while any question is answered, and restored after the last one."""
import threading

from rag import threads


CHECK = """
import json, faiss, numpy
from threadpoolctl import threadpool_info
from rag import threads
def counts():
    return [[i["internal_api"], "faiss" in i["filepath"], "torch" in i["filepath"], i["num_threads"]]
            for i in threadpool_info()]
before = counts()
with threads.answering():
    during = counts()
print(json.dumps([before, during, counts()]))
"""


def test_blas_and_faiss_pools_use_one_thread_while_answering_and_torch_keeps_its_own():
    """In a fresh process: OpenBLAS reports its thread count per calling
    thread, so pools that other tests set and restored from their own
    threads would blur what this one sees."""
    import json
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, check=True)
    before_rows, during_rows, after_rows = json.loads(out.stdout.splitlines()[-1])
    before = {tuple(r[:3]): r[3] for r in before_rows}
    during = {tuple(r[:3]): r[3] for r in during_rows}
    assert {tuple(r[:3]): r[3] for r in after_rows} == before
    for (api, is_faiss, is_torch), n in during.items():
        if api == "openblas" or (api == "openmp" and is_faiss):
            assert n == 1
        else:
            assert n == before[(api, is_faiss, is_torch)]


def test_overlapping_questions_keep_the_limit_until_the_last_one_ends(monkeypatch):
    """The first question in sets the limit, the last one out restores it
    (a stand-in for the pools: OpenBLAS and OpenMP report their thread counts
    per calling thread, which is not what is counted here)."""
    events = []

    class Limiter:
        def restore_original_limits(self):
            events.append("restore")

    class Pools:
        def limit(self, limits):
            events.append(f"limit {limits}")
            return Limiter()

    monkeypatch.setattr(threads, "_pools", lambda: Pools())
    inside, may_leave = threading.Event(), threading.Event()

    def first():
        with threads.answering():
            inside.set()
            may_leave.wait(10)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(10)
    with threads.answering():
        pass
    assert events == ["limit 1"]  # the second question left; the first still runs under the limit
    may_leave.set()
    t.join()
    assert events == ["limit 1", "restore"]
