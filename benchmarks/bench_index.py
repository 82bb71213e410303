"""Index benchmark: build time, peak memory, embedding throughput, query latency.

Run on an otherwise idle machine, after the model is cached (any earlier
`rag index` does that):

    python benchmarks/bench_index.py [--sources DIR] [--queries N]

Each figure is measured in this process; the full build includes loading
the model (a fresh `rag index` pays that too).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

from rag.index import index as ix
from rag.index import build as bx
from rag.ingest.chunking import chunk_sources
from rag.config import Config
from rag.index.embedding import SentenceTransformerEmbedder
from rag.ingest.sources import scan_sources

QUERIES = [
    "كم بلغت رسوم حجز سيارة رودستر؟", "متى شارك ماسك في تأسيس OpenAI؟", "من هي المتحدثة باسم البيت الأبيض؟",
    "بكم عرض ماسك شراء OpenAI؟", "ما هو مشروع ستارجيت في الإمارات؟", "How much did Nvidia invest in xAI?",
    "شو قال ماسك عن سام ألتمان؟", "ما الذي سأله ألتمان لماسك في عام 2016؟", "لماذا يريد ماسك طرح أسهم SpaceX؟",
    "ما هي شبكة Orbital AI؟",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=Path, default=root / "sources")
    ap.add_argument("--queries", type=int, default=200, help="query embeddings to time")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        config = Config.load(sources_dir=args.sources, index_dir=Path(tmp) / "index")
        embedder = SentenceTransformerEmbedder.from_config(config)
        t = time.perf_counter()
        report = bx.build(config, embedder, full=True)
        full_build = time.perf_counter() - t
        rss_after_build = peak_rss_mb()

        t = time.perf_counter()
        noop = bx.build(config, embedder)
        incremental = time.perf_counter() - t
        assert not noop.embedded

        chunks = chunk_sources(scan_sources(args.sources).sources, config.chunking)
        texts = [c.text for c in chunks]
        embedder.embed_passages(texts[:4])  # warm-up
        t = time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            embedder.embed_passages(texts)
        throughput = rounds * len(texts) / (time.perf_counter() - t)

        for q in QUERIES:  # warm-up
            embedder.embed_query(q)
        lat = []
        for i in range(args.queries):
            t = time.perf_counter()
            embedder.embed_query(QUERIES[i % len(QUERIES)])
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        loaded = ix.load(config)
        q = embedder.embed_query(QUERIES[0])
        t = time.perf_counter()
        for _ in range(200):
            loaded.search_dense(q, 10)
            loaded.search_bm25(QUERIES[0], 10)
        search_ms = (time.perf_counter() - t) / 200 * 1000

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch threads {__import__('torch').get_num_threads()}")
    print(f"corpus: {report.sources} sources, {report.chunks} chunks "
          f"(size {config.chunking.size}, overlap {config.chunking.overlap})")
    print("| measure | value |\n|---|---|")
    print(f"| full build, model cached (incl. model load) | {full_build:.2f} s |")
    print(f"| incremental rebuild, nothing changed | {incremental * 1000:.0f} ms |")
    print(f"| peak RSS after build | {rss_after_build:.0f} MB |")
    print(f"| embedding throughput (batch {config.batch_size}) | {throughput:.1f} chunks/s |")
    print(f"| query embedding p50 / p95 ({args.queries} queries) | "
          f"{statistics.median(lat):.1f} / {lat[int(0.95 * len(lat)) - 1]:.1f} ms |")
    print(f"| FAISS + BM25 search (top 10) | {search_ms:.2f} ms |")


if __name__ == "__main__":
    main()
