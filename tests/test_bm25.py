import numpy as np

from rag.index.bm25 import BM25
from rag.text import tokenize
from conftest import SOURCES

DOCS = ["ماسك يرد على ألتمان بسخرية", "جولة تمويل بقيمة 20 مليار دولار لشركة xAI", "سيارة رودستر تأخرت سنوات"]


def test_best_document_ranks_first_and_unrelated_scores_zero():
    bm = BM25.fit([tokenize(d) for d in DOCS])
    scores = bm.scores(tokenize("كم بلغت جوله التمويل؟"))
    assert int(np.argmax(scores)) == 1
    assert scores[0] == 0 and scores[2] == 0


def test_saved_index_loads_memory_mapped_with_identical_scores(tmp_path):
    bm = BM25.fit([tokenize(d) for d in DOCS])
    bm.save(tmp_path / "bm25")
    again = BM25.load(tmp_path / "bm25")
    q = tokenize("ماسك وسيارة رودستر")
    assert np.allclose(bm.scores(q), again.scores(q)) and again.size == 3


def test_scores_are_okapi_bm25_as_written_out():
    """Lucene's BM25 (idf = ln(1 + (N - df + 0.5) / (df + 0.5)), k1=1.2,
    b=0.75), computed here by hand, for every document and several queries."""
    import math
    from collections import Counter

    docs = [tokenize(d) for d in DOCS] + [tokenize("تمويل تمويل xAI من إنفيديا")]
    bm = BM25.fit(docs)
    avg = sum(map(len, docs)) / len(docs)
    for query in ("جولة تمويل xAI", "ماسك رودستر", "كلمة غائبة"):
        terms = set(tokenize(query))
        for i, d in enumerate(docs):
            tf = Counter(d)
            want = 0.0
            for t in terms:
                df = sum(t in x for x in docs)
                if tf[t]:
                    idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                    want += idf * tf[t] / (tf[t] + 1.2 * (1 - 0.75 + 0.75 * len(d) / avg))
            assert math.isclose(float(bm.scores(tokenize(query))[i]), want, rel_tol=1e-4, abs_tol=1e-6)


def test_empty_index_and_empty_query(tmp_path):
    assert BM25.fit([]).scores(["x"]).shape == (0,)
    BM25.fit([]).save(tmp_path / "e")
    assert BM25.load(tmp_path / "e").size == 0
    assert not BM25.fit([tokenize(d) for d in DOCS]).scores([]).any()


def test_document_frequencies_count_documents_not_occurrences():
    docs = [tokenize(d) for d in DOCS] + [tokenize("تمويل تمويل xAI")]
    df = BM25.fit(docs).document_frequencies()
    for term in set(sum(docs, [])):
        assert df[term] == sum(term in d for d in docs)
    assert set(df) == set(sum(docs, []))


def test_built_from_stored_term_counts_it_scores_as_fit():
    """rag/index/store.py keeps each chunk's (term id, count) pairs; BM25 from
    those, over any subset of rows in any order, equals fitting the tokens."""
    from collections import Counter

    from rag.index.bm25 import from_terms, gather_terms

    texts = [line for p in sorted(SOURCES.glob("*.md")) for line in p.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    docs = [tokenize(t) for t in texts]
    vocab: dict[str, int] = {}
    pairs, ends = [], []
    for d in docs:
        for tok, n in sorted(Counter(d).items()):
            pairs.append((vocab.setdefault(tok, len(vocab)), n))
        ends.append(len(pairs))
    pairs_a, ends_a = np.asarray(pairs, np.int32), np.asarray(ends, np.int64)
    rng = np.random.default_rng(0)
    for rows in (np.arange(len(docs)), rng.permutation(len(docs))[: len(docs) // 3]):
        doc, term, tf = gather_terms(pairs_a, ends_a, rows)
        ours = from_terms(doc, term, tf, len(rows), list(vocab))
        ref = BM25.fit([docs[i] for i in rows])
        assert ours.document_frequencies() == ref.document_frequencies()
        for q in [docs[i] for i in rng.choice(len(docs), 15)] + [tokenize("كم ضخت إنفيديا في xAI؟")]:
            assert np.allclose(ours.scores(q), ref.scores(q), atol=1e-5)
