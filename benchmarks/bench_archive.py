"""A newsroom archive: everything but the embedding model, at 10k-100k articles.

    python benchmarks/bench_archive.py [--articles 10000] [--add 100] [--queries 200] [--sentences 10]

A synthetic archive of N articles is written as .txt files, each ~10 real
Arabic sentences (from the five articles and, when ../shared/datasets is
here, ARCD and TyDi paragraphs) in a seeded random order, ~3,000 characters:
about eight 500-character chunks an article. A fast stand-in embedder gives
random unit vectors, so the figures are those of the parts that do not
depend on the model: scanning, chunking, sentence spans, BM25, FAISS, the
chunk store and the manifest. Each step runs in its own process (wall time,
peak RSS):

1. the full build (``rag.index.build.build``) and the index's size on disk (the
   live generation and its store);
2. adding ``--add`` new articles and building again (their rows appended to
   the store, the FAISS graphs grown, BM25 recomputed from stored counts);
3. loading the index and answering's retrieval work for ``--queries`` real
   questions, without the query embedding (a stand-in vector).

Real-model embedding throughput is measured separately (BENCHMARKS.md: ~17
chunks/s per 2-core worker).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT.parent / "shared" / "datasets"
DIM = 384


class StandIn:
    """Random unit vectors, seeded by the text: fast, and the same text gets
    the same vector (so a rebuild could reuse them). ``seconds`` is the time
    spent making them: the embedding a real build spends on the model
    instead, taken out of "everything but embedding"."""

    model_id = "stand-in"
    dim = DIM

    def __init__(self):
        self.seconds = 0.0

    def _vecs(self, texts) -> np.ndarray:
        t0 = time.perf_counter()
        out = np.empty((len(texts), DIM), np.float32)
        for i, t in enumerate(texts):
            out[i] = np.random.default_rng(zlib.crc32(t.encode())).standard_normal(DIM)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        self.seconds += time.perf_counter() - t0
        return out

    def embed_passages(self, texts):
        return self._vecs(list(texts))

    def embed_passages_with_spans(self, texts, spans):
        return self._vecs(list(texts)), [self._vecs([t[a:b] for a, b in s]) if s else
                                         np.zeros((0, DIM), np.float32) for t, s in zip(texts, spans)]

    def embed_query(self, text):
        return self._vecs([text])[0]


def sentences() -> list[str]:
    from rag.ingest.sentences import split_sentences

    texts = [p.read_text(encoding="utf-8").split("---", 2)[-1] for p in (ROOT / "sources").glob("*.md")]
    for name in ("arcd-test.json", "tydiqa-goldp-dev-arabic.json"):
        path = DATASETS / name
        if path.exists():
            texts += [p["context"] for a in json.loads(path.read_text(encoding="utf-8"))["data"]
                      for p in a["paragraphs"]]
    return [t[a:b] for t in texts for a, b in split_sentences(t) if 40 <= b - a <= 600]


def write_archive(folder: Path, n: int, start: int = 0, per: int = 10) -> int:
    pool = sentences()
    rnd = random.Random(start)
    chars = 0
    for i in range(start, start + n):
        lines = rnd.sample(pool, per)
        text = f"مقال رقم {i}\n" + "\n".join(lines) + "\n"
        (folder / f"a{i:06d}.txt").write_text(text, encoding="utf-8")
        chars += len(text)
    return chars


def config(work: Path):
    from rag.config import Config

    return Config.load(env={}, sources_dir=work / "sources", index_dir=work / "index", model=StandIn.model_id,
                       cache_dir=work / "cache")


def step_build(work: Path) -> dict:
    from rag.index import index as ix
    from rag.index import build as bx

    t = time.perf_counter()
    embedder = StandIn()
    report = bx.build(config(work), embedder)
    seconds = time.perf_counter() - t
    manifest = ix.read_manifest(work / "index")
    live = [ix.current_generation(work / "index"), work / "index" / manifest["store"]["name"]]
    return {"seconds": seconds, "stand_in_s": embedder.seconds, "without_embedding_s": seconds - embedder.seconds,
            "chunks": report.chunks, "embedded_chunks": report.embedded_chunks,
            "sentences": manifest["counts"]["sentences"], "store": manifest["store"]["name"],
            "disk_mb": sum(f.stat().st_size for d in live for f in d.rglob("*") if f.is_file()) / 2**20}


def step_query(work: Path, queries: int) -> dict:
    from rag.answer.evidence import SentenceTable, gather
    from rag.index import index as ix
    from rag.answer.question import analyze
    from rag.index.retrieval import search

    t = time.perf_counter()
    index = ix.load(config(work), check_sources=False)
    table = SentenceTable(index)
    load_s = time.perf_counter() - t
    rows = [json.loads(x) for x in (ROOT / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if x]
    questions = [r["question"] for r in rows] * (queries // len(rows) + 1)
    emb = StandIn()
    times = []
    first = None
    for q in questions[:queries]:
        vec = emb.embed_query(q)
        t = time.perf_counter()
        question = analyze(q)
        hits = search(index, q, vec, k=20, depth=30)
        gather(table, question, dict.fromkeys(question.content, 1.0), vec, [h.position for h in hits[:6]])
        times.append((time.perf_counter() - t) * 1000)
        first = times[0] if first is None else first
    times.sort()
    return {"load_s": load_s, "first_ms": first, "p50_ms": statistics.median(times),
            "p95_ms": times[int(0.95 * len(times))]}


def child(step: str, work: Path, queries: int, profile: bool = False) -> dict:
    r = subprocess.run([sys.executable, __file__, "--_step", step, "--_work", str(work), "--queries", str(queries)]
                       + (["--profile"] if profile else []), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--add", type=int, default=100)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--sentences", type=int, default=10, help="sentences an article (10: ~3,000 characters)")
    ap.add_argument("--work", type=Path, help="build in this folder and keep it (default: a temporary one)")
    ap.add_argument("--query-only", action="store_true", help="only the last step, on the index in --work")
    ap.add_argument("--profile", action="store_true", help="write a cProfile summary of each step into the folder")
    ap.add_argument("--_step")
    ap.add_argument("--_work", type=Path)
    args = ap.parse_args()
    if args._step:
        run = (lambda: step_build(args._work)) if args._step.startswith("build") else (
            lambda: step_query(args._work, args.queries))
        if args.profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            out = prof.runcall(run)
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
            (args._work / f"profile-{args._step}.txt").write_text(buf.getvalue(), encoding="utf-8")
        else:
            out = run()
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="sanad-archive-"))
    try:
        if args.query_only:
            query = child("query", work, args.queries, args.profile)
            print(json.dumps({"query": query}))
            print(f"load {query['load_s']:.1f} s, first question {query['first_ms']:.0f} ms, p50 "
                  f"{query['p50_ms']:.1f} ms, p95 {query['p95_ms']:.1f} ms, peak RSS {query['peak_rss_mb']:.0f} MB")
            return
        (work / "sources").mkdir(parents=True)
        t = time.perf_counter()
        chars = write_archive(work / "sources", args.articles, per=args.sentences)
        print(f"{args.articles:,} articles, {chars / 2**20:.0f} MB of text, written in {time.perf_counter() - t:.0f} s")
        full = child("build", work, args.queries, args.profile)
        write_archive(work / "sources", args.add, start=args.articles, per=args.sentences)
        more = child("build-add", work, args.queries, args.profile)
        query = child("query", work, args.queries, args.profile)
        print(json.dumps({"full": full, "add": more, "query": query}))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("| step | wall s | without the stand-in embedder s | peak RSS MB | notes |\n|---|---|---|---|---|")
    print(f"| full build | {full['seconds']:.0f} | {full['without_embedding_s']:.0f} | {full['peak_rss_mb']:.0f} | "
          f"{full['chunks']:,} chunks, "
          f"{full['sentences']:,} sentences, {full['disk_mb']:.0f} MB on disk |")
    same = "appended to the same store" if more["store"] == full["store"] else "a new store (compacted)"
    print(f"| add {args.add} articles | {more['seconds']:.1f} | {more['without_embedding_s']:.1f} | "
          f"{more['peak_rss_mb']:.0f} | "
          f"{more['embedded_chunks']:,} chunks embedded, {same}, {more['disk_mb']:.0f} MB on disk |")
    print(f"| load + {args.queries} questions' retrieval | {query['load_s']:.1f} (load) | | "
          f"{query['peak_rss_mb']:.0f} | "
          f"first question {query['first_ms']:.0f} ms, then p50 {query['p50_ms']:.1f} ms, p95 {query['p95_ms']:.1f} ms "
          "without the query embedding |")


if __name__ == "__main__":
    main()
