"""Load test: many concurrent chat sessions against the running app, over
HTTP with gradio_client, on 127.0.0.1 only, bounded in count and time.

    python app.py &                                    # or let --start do it
    python benchmarks/load_test.py --url http://127.0.0.1:7860/ [--sessions 20] [--questions 10]
    python benchmarks/load_test.py --start [--sessions 20] [--questions 10]

Every session asks its own sequence of questions, follow-ups included, and
checks that each reply is the one the same question gets when asked alone
(asked first, one at a time, as the reference): a reply delivered to the
wrong session, or changed by a concurrent one, is counted. Whether the
replies are *right* is the evaluation's business (EVALUATION.md), not this
test's. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


def scripts(n_questions: int, seed: int) -> list[tuple[str, str]]:
    """A session's (question, the question it follows or "") list: dev-set
    questions in random order, each follow-up right after the question it
    follows."""
    rows = [json.loads(x) for x in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if x]
    singles = [(r["question"], "") for r in rows if r["answerable"] and r["style"] in ("formal", "dialect")]
    pairs = [(r["history"][0], r["question"]) for r in rows if r.get("history")]
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    while len(out) < n_questions:
        if rng.random() < 0.4 and len(out) + 2 <= n_questions:
            first, follow = rng.choice(pairs)
            out += [(first, ""), (follow, first)]
        else:
            out.append(rng.choice(singles))
    return out


def _same(reply: str) -> str:
    """A reply without its turn numbers (anchors are numbered by turn)."""
    return re.sub(r"\b(src|rel)-\d+-", r"\1-", reply)


def _ask(client, question: str, chat: list) -> tuple[str, list]:
    _, chat = client.predict(question, chat, api_name="/ask")
    reply = chat[-1]["content"] if chat else ""
    return (reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)), chat


def references(url: str, items: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Each (question, the question it follows) asked alone, in a fresh chat."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    out = {}
    for question, prior in sorted(items):
        chat: list = []
        if prior:
            _, chat = _ask(client, prior, chat)
        out[(question, prior)] = _same(_ask(client, question, chat)[0])
    return out


def run_session(url: str, script: list[tuple[str, str]], expected: dict, results: list, errors: list,
                deadline: float):
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
        chat: list = []
        for question, prior in script:
            if time.time() > deadline:
                errors.append("deadline reached")
                return
            t = time.perf_counter()
            reply, chat = _ask(client, question, chat)
            ms = (time.perf_counter() - t) * 1000
            ok = _same(reply) == expected[(question, prior)]
            results.append({"ms": ms, "ok": ok, "question": question})
    except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the others
        errors.append(f"{type(e).__name__}: {e}")


def run(url: str, sessions: int, questions: int, timeout: float = 600) -> dict:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load test only targets this machine (127.0.0.1)")
    results: list = []
    errors: list = []
    deadline = time.time() + timeout
    plans = [scripts(questions, seed) for seed in range(sessions)]
    expected = references(url, {item for plan in plans for item in plan})
    threads = [threading.Thread(target=run_session, args=(url, plan, expected, results, errors, deadline))
               for plan in plans]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=max(1.0, deadline - time.time()))
    wall = time.perf_counter() - t
    lat = sorted(r["ms"] for r in results)
    pct = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1)) if lat else (lambda p: None)
    return {"sessions": sessions, "questions_per_session": questions, "asked": len(results),
            "wrong_or_misdelivered": sum(not r["ok"] for r in results), "errors": len(errors),
            "error_samples": errors[:3], "latency_ms_p50": pct(0.5), "latency_ms_p95": pct(0.95),
            "wall_s": round(wall, 1), "failed": [r for r in results if not r["ok"]][:3]}


def start_app(port: int, index_dir: str) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "SANAD_INDEX": index_dir,
           "SANAD_SOURCES": str(ROOT / "sources")}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("app.py exited during start-up")
            time.sleep(1)
    proc.kill()
    raise SystemExit("app.py did not start")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--start", action="store_true", help="start app.py on a free port for the test")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--questions", type=int, default=10)
    args = ap.parse_args()
    proc = None
    url = args.url
    if args.start:
        import tempfile

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = start_app(port, tempfile.mkdtemp(prefix="sanad-load-"))
        url = f"http://127.0.0.1:{port}/"
    try:
        print(json.dumps(run(url, args.sessions, args.questions), ensure_ascii=False, indent=2))
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
