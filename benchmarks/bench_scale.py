"""Vector search at scale: FAISS flat against HNSW and IVF, 10k to 1M chunks.

    python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--queries 500]
                                     [--out benchmarks/results/scale.json]

For each size, vectors are generated (see ``synthetic``), every candidate
index is built in its own process (build time and peak RSS), written to disk,
and then loaded in a fresh process that runs one query at a time, as the app
does: p50/p95 latency, recall@10 against the exact (flat) answer, and the
peak RSS of that serving process. Each process measures only itself, so the
memory figures do not leak into one another.

Why synthetic vectors: embedding a million real chunks takes ~17 hours on
this CPU (15-18 chunks/s, BENCHMARKS.md). The generator imitates what e5
embeddings look like: unit vectors sharing a common direction (e5 cosines
sit in 0.7-0.9) around many topic clusters. Uniform random vectors would be
unrealistically hard for approximate indexes; a few tight clusters
unrealistically easy.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384  # multilingual-e5-small
K = 10
SHARED = 3.2  # weight of the common direction; see synthetic()
# (factory, search parameter sweep); IVF list counts are filled in per size.
CANDIDATES = [
    ("Flat", [""]),
    ("HNSW32,Flat", ["efSearch=32", "efSearch=64", "efSearch=128"]),
    ("HNSW32,SQfp16", ["efSearch=32", "efSearch=64", "efSearch=128"]),
    ("HNSW32,SQ8", ["efSearch=64", "efSearch=128"]),
    ("IVF{nlist},Flat", ["nprobe=8", "nprobe=16", "nprobe=32"]),
    ("IVF{nlist},SQfp16", ["nprobe=8", "nprobe=16", "nprobe=32"]),
]


def synthetic(count: int, seed: int, corpus_size: int, block: int = 10_000) -> np.ndarray:
    """``count`` unit vectors: SHARED * a common direction + one of
    corpus_size/200 topic centres + isotropic noise. The topics depend only on
    ``corpus_size``, so queries (another ``seed``) fall near the corpus's
    topics, as questions fall near some article. e5 vectors are anisotropic:
    in the real index of sources/ the mean cosine of two chunks is 0.85 and
    of a chunk and its nearest neighbour 0.91; this generator gives ~0.85 and
    ~0.93 (measured), which also stresses 8-bit quantization realistically."""
    topics = np.random.default_rng(7)
    n_topics = max(10, corpus_size // 200)
    shared = topics.standard_normal(DIM).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centres = topics.standard_normal((n_topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((count, DIM), np.float32)
    rng = np.random.default_rng(seed)
    for lo in range(0, count, block):
        hi = min(count, lo + block)
        noise = rng.standard_normal((hi - lo, DIM)).astype(np.float32) * (0.9 / np.sqrt(DIM))
        v = SHARED * shared + centres[rng.integers(0, n_topics, hi - lo)] + noise
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def corpus(n: int) -> np.ndarray:
    return synthetic(n, seed=n, corpus_size=n)


def queries(n: int, count: int) -> np.ndarray:
    return synthetic(count, seed=10_000 + n, corpus_size=n)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# ------------------------------------------------------------------ workers
def work_build(n: int, factory: str, path: str) -> dict:
    import faiss

    from rag.index import ann

    vectors = corpus(n)
    kind = factory.split(",")[0].rstrip("0123456789").lower()  # "Flat" -> flat, "IVF256,..." -> ivf
    spec = ann.AnnSpec(kind, factory)
    t = time.perf_counter()
    index = ann.build(spec, vectors)
    secs = time.perf_counter() - t
    faiss.write_index(index, path)
    return {"build_s": secs, "build_per_s": n / secs, "build_peak_rss_mb": peak_rss_mb(),
            "file_mb": os.path.getsize(path) / 2**20}


def work_truth(n: int, count: int, path: str) -> dict:
    import faiss

    vectors = corpus(n)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    _, ids = flat.search(queries(n, count), K)  # batched: BLAS, fast
    np.save(path, ids)
    return {}


def work_search(n: int, count: int, path: str, truth: str, params: list[str]) -> dict:
    import faiss

    from rag.index import ann

    index = faiss.read_index(path)
    loaded_rss = peak_rss_mb()
    qs = queries(n, count)
    gold = np.load(truth)
    rows = {}
    for p in params:
        ann.configure(index, p)
        for q in qs[:20]:  # warm caches
            index.search(q[None, :], K)
        lat, found = [], []
        for q in qs:
            t = time.perf_counter()
            _, ids = index.search(q[None, :], K)
            lat.append((time.perf_counter() - t) * 1000)
            found.append(ids[0])
        recall = float(np.mean([len(set(f) & set(g)) / K for f, g in zip(found, gold)]))
        rows[p] = {"p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
                   "recall@10": recall}
    return {"loaded_rss_mb": loaded_rss, "serving_peak_rss_mb": peak_rss_mb(), "params": rows}


def run_worker(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(args)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--only", nargs="*", help="factories to run (default: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sanad-bench-scale"))
    ap.add_argument("--out", type=Path, default=root / "benchmarks" / "results" / "scale.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        name, *rest = json.loads(args.worker)
        print(json.dumps({"build": work_build, "truth": work_truth, "search": work_search}[name](*rest)))
        return 0

    from rag.index import ann

    args.work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    print("| chunks | index | params | build s | build peak MB | serving peak MB | p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        truth = str(args.work / f"truth-{n}-{args.queries}-{SHARED}.npy")  # exact top-10 per query
        if not os.path.exists(truth):
            run_worker("truth", n, args.queries, truth)
        for factory, params in CANDIDATES:
            factory = factory.format(nlist=ann.ivf_lists(n))
            if args.only and not any(factory.startswith(o) for o in args.only):
                continue
            path = str(args.work / f"{n}-{factory.replace(',', '_')}.faiss")
            built = run_worker("build", n, factory, path)
            served = run_worker("search", n, args.queries, path, truth, params)
            os.remove(path)
            for p, r in served["params"].items():
                row = {**built, "loaded_rss_mb": served["loaded_rss_mb"],
                       "serving_peak_rss_mb": served["serving_peak_rss_mb"], **r}
                results[f"{n}|{factory}|{p}"] = row
                print(f"| {n:,} | {factory} | {p or '-'} | {row['build_s']:.1f} | {row['build_peak_rss_mb']:.0f} | "
                      f"{row['serving_peak_rss_mb']:.0f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | "
                      f"{row['recall@10']:.3f} |", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
