"""BM25 (rag/index/bm25.py, on bm25s) at archive scale: build time, size on disk,
load time and query time, from 10k to 1M chunks.

    python benchmarks/bench_bm25.py [--sizes 10000,100000,1000000] [--queries 300]

Chunks are drawn from the real vocabulary: the tokens (normalized, stemmed)
of the five articles and, when ../shared/datasets is here, of ARCD and TyDi
paragraphs, sampled with their own frequencies, ~75 tokens a chunk (the
length of a 500-character chunk of Arabic news). Queries are 4-8 tokens drawn
the same way. Tokenizing real text is measured separately, per chunk.
Each size is built, saved, and loaded memory-mapped in a fresh process (its
peak RSS is the serving cost).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"
TOKENS_PER_CHUNK = 75


def real_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "sources").glob("*.md")]
    for name in ("arcd-test.json", "tydiqa-goldp-dev-arabic.json"):
        path = DATASETS / name
        if path.exists():
            texts += [p["context"] for a in json.loads(path.read_text(encoding="utf-8"))["data"]
                      for p in a["paragraphs"]]
    return texts


def vocabulary() -> tuple[list[str], np.ndarray, float]:
    """Tokens with their probabilities, and the tokenizer's time per 500 characters."""
    from rag.text import tokenize

    texts = real_texts()
    t = time.perf_counter()
    counts: Counter = Counter()
    chars = 0
    for text in texts:
        counts.update(tokenize(text))
        chars += len(text)
    per_chunk_ms = (time.perf_counter() - t) * 1000 / max(1, chars / 500)
    words, n = zip(*counts.most_common())
    p = np.asarray(n, dtype=np.float64)
    return list(words), p / p.sum(), per_chunk_ms


def build(size: int, folder: Path) -> None:
    """In this process: draw ``size`` chunks, index, save; print a JSON line."""
    from rag.index.bm25 import BM25

    words, p, _ = vocabulary()
    rng = np.random.default_rng(size)
    ids = rng.choice(len(words), size=(size, TOKENS_PER_CHUNK), p=p)
    docs = [[words[j] for j in row] for row in ids]
    t = time.perf_counter()
    bm = BM25.fit(docs)
    build_s = time.perf_counter() - t
    del docs
    t = time.perf_counter()
    bm.save(folder)
    save_s = time.perf_counter() - t
    disk = sum(f.stat().st_size for f in folder.iterdir())
    print(json.dumps({"build_s": build_s, "save_s": save_s, "disk_mb": disk / 2**20,
                      "build_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def serve(folder: Path, queries: int) -> None:
    """In this process: load memory-mapped, time single queries; print a JSON line."""
    from rag.index.bm25 import BM25

    words, p, _ = vocabulary()
    rng = np.random.default_rng(7)
    qs = [[words[j] for j in rng.choice(len(words), size=int(rng.integers(4, 9)), p=p)] for _ in range(queries)]
    t = time.perf_counter()
    bm = BM25.load(folder)
    load_s = time.perf_counter() - t
    times = []
    for q in qs:
        t = time.perf_counter()
        scores = bm.scores(q)
        np.argpartition(-scores, 30)[:30]  # the top 30 the retrieval takes
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(json.dumps({"load_s": load_s, "p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times))],
                      "serve_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--_build", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._build:
        return build(args._build, args._dir)
    if args._serve:
        return serve(args._dir, args.queries)
    _, _, per_chunk_ms = vocabulary()
    print(f"tokenizing (normalize + stem) real text: {per_chunk_ms:.2f} ms per 500-character chunk "
          f"({1e6 * per_chunk_ms / 1000 / 60:.0f} min for 1M chunks on one core)\n")
    print("| chunks | build s | save s | disk MB | build peak RSS MB | load s | query p50 ms | query p95 ms "
          "| serving peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in map(int, args.sizes.split(",")):
        tmp = Path(tempfile.mkdtemp())
        try:
            me = [sys.executable, __file__]
            b = json.loads(subprocess.run(me + ["--_build", str(size), "--_dir", str(tmp / "bm25")],
                                          check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            s = json.loads(subprocess.run(me + ["--_serve", "--_dir", str(tmp / "bm25"), "--queries",
                                                str(args.queries)],
                                          check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"| {size:,} | {b['build_s']:.1f} | {b['save_s']:.1f} | {b['disk_mb']:.0f} | {b['build_peak_mb']:.0f} "
              f"| {s['load_s']:.2f} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['serve_peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
