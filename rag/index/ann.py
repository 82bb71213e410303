"""Which FAISS index for how many vectors.

Exact search (a flat inner-product scan) is the best index while it is fast
enough; past a size it is not, and an approximate index takes over. The sizes
and parameters below come from benchmarks/bench_scale.py on the 2-core
benchmark machine (BENCHMARKS.md, "Scale"):

* up to FLAT_MAX vectors a flat scan is exact and fast enough: ~1 ms at 10k,
  15 ms at 100k with two threads (p50, one query; it grows linearly). While a
  question is answered FAISS gets one thread (rag/threads.py), and the scan
  took 23 ms at 46k chunks (benchmarks/bench_archive.py), so exact search
  stops at 20k (~10 ms), well under embedding the query (~28 ms);
* beyond, HNSW over float16 vectors (Malkov & Yashunin, "Efficient and robust
  approximate nearest neighbor search using Hierarchical Navigable Small
  World graphs", TPAMI 2018): at 1M vectors p50 0.41 ms (flat: 148 ms),
  recall@10 against flat 0.995 with efSearch 128, 1.06 GB serving RSS (flat
  1.54 GB, HNSW over float32 1.80 GB). 8-bit storage lost too much recall
  (0.95 at 100k) on e5's anisotropic vectors.

Every spec is a FAISS factory string plus search parameters, so the manifest
can record exactly what was built and loading can restore it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
FLAT_MAX = 20_000
HNSW_FACTORY = "HNSW32,SQfp16"
HNSW_BUILD_EF = 80
# The sentence graph only proposes candidates that evidence then scores exactly, so it is
# built with less search: at 200k e5-like vectors (bench_scale.py's generator) efConstruction
# 40 builds in 29 s against 46 s for 80, recall@10 0.989 against 0.995 at efSearch 128 (24:
# 0.939; HNSW16 at 40: 0.934). It was 2.3M of the 3.3M vectors of a 100,000-article build.
SENTENCE_BUILD_EF = 40
HNSW_SEARCH_EF = 128


@dataclass(frozen=True)
class AnnSpec:
    kind: str  # flat | hnsw | ivf
    factory: str  # faiss.index_factory description
    params: str = ""  # faiss.ParameterSpace string applied after loading, e.g. "efSearch=96"
    build_ef: int = HNSW_BUILD_EF  # HNSW's efConstruction (not kept in FAISS's file)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"type": self.kind, "factory": self.factory, "params": self.params,
                               "metric": "inner_product"}
        if self.kind == "hnsw":
            out["build_ef"] = self.build_ef
        return out


def ivf_lists(n: int) -> int:
    """About 4*sqrt(n) lists (the FAISS wiki's guideline for 1M-scale), at
    least 1, and never more than n/39 so that each list gets training points."""
    return max(1, min(int(4 * math.sqrt(n)), n // 39))


def spec_for(n: int, kind: str = "auto", build_ef: int = HNSW_BUILD_EF) -> AnnSpec:
    """The index to build for ``n`` vectors; ``kind`` forces one;
    ``build_ef`` is HNSW's efConstruction."""
    if kind not in INDEX_TYPES:
        raise ValueError(f"unknown index type {kind!r}; expected one of {', '.join(INDEX_TYPES)}")
    if kind == "auto":
        kind = "flat" if n <= FLAT_MAX else "hnsw"
    if kind == "flat":
        return AnnSpec("flat", "Flat")
    if kind == "hnsw":
        return AnnSpec("hnsw", HNSW_FACTORY, f"efSearch={HNSW_SEARCH_EF}", build_ef)
    nlist = ivf_lists(n)
    return AnnSpec("ivf", f"IVF{nlist},SQfp16", f"nprobe={min(nlist, max(8, nlist // 32))}")


def build(spec: AnnSpec, vectors, batch: int = 65_536):
    """A FAISS index of ``spec`` holding ``vectors`` (rows L2-normalized, so
    inner product is cosine). ``vectors`` may be memory-mapped: rows are
    added a batch at a time, so the whole matrix is never copied into memory
    (1.7 GB for the sentence vectors of 100,000 articles)."""
    import faiss
    import numpy as np

    dim = vectors.shape[1]
    if spec.factory == "Flat":
        index: Any = faiss.IndexFlatIP(dim)  # the exact index, as before specs existed
    else:
        index = faiss.index_factory(dim, spec.factory, faiss.METRIC_INNER_PRODUCT)
        if spec.kind == "hnsw":
            faiss.downcast_index(index).hnsw.efConstruction = spec.build_ef  # type: ignore[attr-defined]
        if not index.is_trained:
            index.train(np.ascontiguousarray(_training_sample(vectors, spec), dtype=np.float32))
    for start in range(0, len(vectors), batch):
        index.add(np.ascontiguousarray(vectors[start:start + batch], dtype=np.float32))
    configure(index, spec.params)
    return index


def extend(index, spec: AnnSpec, vectors) -> None:
    """Add rows to an index built by ``build(spec, ...)`` and read back from
    disk (new ids follow the old ones). HNSW inserts them into its graph
    with the build's efConstruction; IVF assigns them to its trained lists."""
    import faiss
    import numpy as np

    if spec.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efConstruction = spec.build_ef  # type: ignore[attr-defined]
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    configure(index, spec.params)


def configure(index, params: str) -> None:
    """Apply search parameters (they are not all kept in FAISS's own file)."""
    if params:
        import faiss

        faiss.ParameterSpace().set_index_parameters(index, params)  # type: ignore[arg-type]  # str form is valid


def _training_sample(vectors, spec: AnnSpec, per_list: int = 64, seed: int = 0):
    """k-means on every vector costs minutes at 1M; 64 points a list is
    enough for centroids (FAISS warns below 39)."""
    nlist = int(spec.factory.split(",")[0][3:]) if spec.kind == "ivf" else 1
    want = max(per_list * nlist, 10_000)
    if len(vectors) <= want:
        return vectors
    import numpy as np

    rows = np.random.default_rng(seed).choice(len(vectors), want, replace=False)
    return vectors[np.sort(rows)]
