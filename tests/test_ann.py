import faiss
import numpy as np
import pytest

from rag.index import ann


def _unit(n, d=32, seed=0):
    """Clustered unit vectors, like embeddings of texts on a few dozen topics
    (uniform random vectors have no neighbourhoods for an index to find)."""
    topics = np.random.default_rng(99).standard_normal((40, d))
    rng = np.random.default_rng(seed)
    v = (topics[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, d))).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_small_corpora_get_exact_search_and_large_ones_hnsw():
    assert ann.spec_for(10).kind == "flat"
    assert ann.spec_for(ann.FLAT_MAX).kind == "flat"
    assert ann.spec_for(ann.FLAT_MAX + 1).kind == "hnsw"
    assert ann.spec_for(10, "ivf").kind == "ivf"
    with pytest.raises(ValueError):
        ann.spec_for(10, "annoy")


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_every_kind_finds_the_exact_neighbours_on_a_small_set(kind, tmp_path):
    data, queries = _unit(4000), _unit(50, seed=1)
    spec = ann.spec_for(len(data), kind)
    index = ann.build(spec, data)
    path = str(tmp_path / "x.faiss")
    faiss.write_index(index, path)
    loaded = faiss.read_index(path)
    ann.configure(loaded, spec.params)  # what index.load does with the manifest's params
    _, got = loaded.search(queries, 10)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    recall = np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)])
    assert recall >= (1.0 if kind == "flat" else 0.9)


def test_ivf_lists_scale_with_size():
    assert ann.ivf_lists(100) >= 1
    assert ann.ivf_lists(10_000) < ann.ivf_lists(1_000_000) <= 4000


def test_hnsw_is_built_with_the_specs_efconstruction_and_records_it():
    data = _unit(500)
    for ef in (ann.HNSW_BUILD_EF, ann.SENTENCE_BUILD_EF):
        spec = ann.spec_for(len(data), "hnsw", ef)
        assert spec.to_json()["build_ef"] == ef
        built = ann.build(spec, data)
        assert faiss.downcast_index(built).hnsw.efConstruction == ef
        ann.extend(built, spec, _unit(10, seed=3))
        assert faiss.downcast_index(built).hnsw.efConstruction == ef and built.ntotal == 510
    assert "build_ef" not in ann.spec_for(10).to_json()  # flat: nothing to record
