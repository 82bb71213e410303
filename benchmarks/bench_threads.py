"""Does answering slow down as the index grows, beyond its extra search time?

    python benchmarks/bench_threads.py [--rounds N] [--paragraphs N]

Issue 11 measured that it did: the query embedding took 26-44 ms over the
five articles and 110-130 ms over ~600 paragraphs, because numpy's and
FAISS's idle thread pools spun on the cores torch needed (rag/threads.py).
This asks every question of eval/dev.jsonl against a small index (the five
articles) and a large one (the same plus N paragraphs of ARCD and TyDi from
../shared/datasets, or reshuffled sentences of the articles without it), with
the pool limit on and off, in one run, and prints p50/p95 of each stage.
Only the search may grow with the index; the embedding and the reader must not.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path

from rag import threads
from rag.config import Config
from rag.pipeline import Sanad
from rag.ingest.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def large_corpus(folder: Path, paragraphs: int) -> None:
    """The five articles plus ``paragraphs`` other ones."""
    folder.mkdir(parents=True)
    for src in (ROOT / "sources").iterdir():
        (folder / src.name).write_bytes(src.read_bytes())
    texts = []
    for name in ("arcd-test.json", "tydiqa-goldp-dev-arabic.json"):
        path = DATASETS / name
        if path.exists():
            for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
                texts += [p["context"] for p in article["paragraphs"]]
    if not texts:  # no datasets here: the articles' own sentences, reshuffled
        sentences = [t[a:b] for src in (ROOT / "sources").glob("*.md")
                     for t in [src.read_text(encoding="utf-8")] for a, b in split_sentences(t)]
        rnd = random.Random(7)
        texts = [" ".join(rnd.sample(sentences, 6)) for _ in range(paragraphs)]
    for n, text in enumerate(texts[:paragraphs]):
        (folder / f"p{n:04d}.txt").write_text(text, encoding="utf-8")


def measure(sources: Path, index: Path, rows: list[dict], rounds: int, limit: bool) -> dict:
    threads.set_enabled(limit)
    sanad = Sanad(Config.load(sources_dir=sources, index_dir=index))
    sanad.ensure_index()
    sanad.warm_up()
    parts: dict[str, list[float]] = {}
    for _ in range(rounds):
        for r in rows:
            a = sanad.ask(r["question"], r.get("history", []))
            for k, v in a.timings_ms.items():
                parts.setdefault(k, []).append(v)
    return {"chunks": len(sanad.index.chunks), "sentences": len(sanad.index.sentences), "parts": parts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--paragraphs", type=int, default=600)
    args = ap.parse_args()
    rows = [json.loads(x) for x in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if x]
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "large"
        large_corpus(big, args.paragraphs)
        runs = []
        for limit in (True, False):
            for name, sources in (("small", ROOT / "sources"), ("large", big)):
                m = measure(sources, Path(tmp) / f"index-{name}", rows, args.rounds, limit)
                runs.append((name, limit, m))
    print(f"{len(rows)} questions x {args.rounds} rounds per run\n")
    print("| index | chunks | pool limit | embed p50 | embed p95 | retrieve p50 | read p50 | total p50 | total p95 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, limit, m in runs:
        p = m["parts"]
        print(f"| {name} | {m['chunks']} | {'on' if limit else 'off'} | {statistics.median(p['embed']):.1f} | "
              f"{pct(p['embed'], 0.95):.1f} | {statistics.median(p['retrieve']):.1f} | "
              f"{statistics.median(p['read']):.1f} | {statistics.median(p['total']):.1f} | "
              f"{pct(p['total'], 0.95):.1f} |")


if __name__ == "__main__":
    main()
