"""Which chunk size and overlap? Measured on multi-paragraph Arabic articles.

Each article of a SQuAD-format set (its paragraphs joined by blank lines)
becomes one source; it is chunked with each candidate setting, embedded with
the real model, and every question retrieves chunks by cosine. A question is
a hit when a retrieved chunk covers its gold answer span. Bigger chunks cover
more text by definition, so besides hit@1 we compare hits within a fixed
reading budget: the top chunks up to BUDGET characters in all.

    python benchmarks/chunk_sizes.py [--dataset FILE] [--limit N]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rag.ingest.chunking import ChunkSettings, chunk_sources
from rag.config import Config
from rag.index.embedding import SentenceTransformerEmbedder
from rag.ingest.sources import Source

SETTINGS = [(300, 50), (500, 75), (700, 0), (700, 100), (1000, 150), (1500, 200)]
BUDGET = 2000


def load(path: Path, limit: int | None):
    sources, questions = [], []
    for n, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"][:limit]):
        text, sid = "", f"a{n}"
        for para in article["paragraphs"]:
            if text:
                text += "\n\n"
            base = len(text)
            text += para["context"]
            for qa in para["qas"]:
                ans = qa["answers"][0]
                start = base + ans["answer_start"]
                questions.append((qa["question"], sid, start, start + len(ans["text"])))
        sources.append(Source(sid, sid, text, "", ""))
    return sources, questions


def main():
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=root.parent / "shared" / "datasets" / "arcd-test.json")
    ap.add_argument("--limit", type=int, help="first N articles only")
    args = ap.parse_args()
    sources, questions = load(args.dataset, args.limit)
    emb = SentenceTransformerEmbedder.from_config(Config.load())
    t = time.perf_counter()
    qv = np.stack([emb.embed_query(q) for q, *_ in questions])
    print(f"{args.dataset.name}: {len(sources)} articles, {len(questions)} questions "
          f"(queries embedded in {time.perf_counter() - t:.0f} s)")
    print("| size / overlap | chunks | mean chars | hit@1 | hit@3 | hit within 2000 chars | embed s |")
    print("|---|---|---|---|---|---|---|")
    for size, overlap in SETTINGS:
        chunks = chunk_sources(sources, ChunkSettings(size, overlap))
        t = time.perf_counter()
        cv = emb.embed_passages([c.text for c in chunks])
        secs = time.perf_counter() - t
        order = np.argsort(-(qv @ cv.T), axis=1)
        h1 = h3 = hb = 0
        for (_, sid, a, b), ranked in zip(questions, order):
            used, hits = 0, []
            for rank, i in enumerate(ranked[:20]):
                c = chunks[i]
                hit = c.source_id == sid and c.start <= a and b <= c.end
                if used < BUDGET:
                    hits.append(hit)
                used += len(c.text)
                if rank == 0:
                    h1 += hit
                if rank < 3 and hit:
                    h3 += 1
                    break
            hb += any(hits)
        n = len(questions)
        mean = sum(len(c.text) for c in chunks) / len(chunks)
        print(f"| {size} / {overlap} | {len(chunks)} | {mean:.0f} | {h1 / n:.3f} | {h3 / n:.3f} | {hb / n:.3f} | {secs:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
