"""Which stemmer should BM25 use? Measure, don't guess.

For each public SQuAD-format Arabic set in ../shared/datasets, every paragraph
is a document and every question a query; we report BM25 recall@1/@5 and MRR
of the question's own paragraph, with each candidate stemmer.

    python benchmarks/stemmers.py [--datasets DIR]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rag.index.bm25 import BM25
from rag.text import normalize, stem, tokenize


def candidates():
    yield "none", lambda t: t
    yield "sanad-light", stem
    try:
        import snowballstemmer

        sb = snowballstemmer.stemmer("arabic")
        yield "snowball-arabic", lambda t: normalize(sb.stemWord(t))
    except ImportError:
        pass
    try:
        from nltk.stem.arlstem import ARLSTem
        from nltk.stem.arlstem2 import ARLSTem2
        from nltk.stem.isri import ISRIStemmer

        isri, arl, arl2 = ISRIStemmer(), ARLSTem(), ARLSTem2()
        yield "nltk-isri", lambda t: normalize(isri.stem(t))
        yield "nltk-arlstem", lambda t: normalize(arl.stem(t))
        yield "nltk-arlstem2", lambda t: normalize(arl2.stem1(t))
    except ImportError:
        pass
    try:
        from tashaphyne.stemming import ArabicLightStemmer

        ts = ArabicLightStemmer()
        yield "tashaphyne", lambda t: normalize(ts.light_stem(t))
    except ImportError:
        pass


def load_squad(path: Path):
    paragraphs, questions = [], []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            pid = len(paragraphs)
            paragraphs.append(para["context"])
            questions += [(qa["question"], pid) for qa in para["qas"]]
    return paragraphs, questions


def evaluate(paragraphs, questions, stemmer):
    from functools import lru_cache

    cached = lru_cache(maxsize=None)(stemmer)
    bm25 = BM25.fit([tokenize(p, stemmer=cached) for p in paragraphs])
    r1 = r5 = rr = 0.0
    for q, gold in questions:
        order = np.argsort(-bm25.scores(tokenize(q, stemmer=cached)), kind="stable")
        rank = int(np.where(order == gold)[0][0]) + 1
        r1 += rank == 1
        r5 += rank <= 5
        rr += 1 / rank
    n = len(questions)
    return r1 / n, r5 / n, rr / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "datasets")
    args = ap.parse_args()
    files = ["arcd-test.json", "tydiqa-goldp-dev-arabic.json", "mlqa-dev-context-ar-question-ar.json"]
    print("| stemmer | " + " | ".join(f"{f.split('.')[0]} R@1 / R@5 / MRR" for f in files) + " | s |")
    print("|---|" + "---|" * len(files) + "---|")
    data = [load_squad(args.datasets / f) for f in files]
    for name, stemmer in candidates():
        t = time.perf_counter()
        cells = [" / ".join(f"{x:.3f}" for x in evaluate(p, q, stemmer)) for p, q in data]
        print(f"| {name} | " + " | ".join(cells) + f" | {time.perf_counter() - t:.1f} |", flush=True)


if __name__ == "__main__":
    main()
