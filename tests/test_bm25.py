import numpy as np

from rag.bm25 import BM25
from rag.text import tokenize

DOCS = ["ماسك يرد على ألتمان بسخرية", "جولة تمويل بقيمة 20 مليار دولار لشركة xAI", "سيارة رودستر تأخرت سنوات"]


def test_best_document_ranks_first_and_unrelated_scores_zero():
    bm = BM25.fit([tokenize(d) for d in DOCS])
    scores = bm.scores(tokenize("كم بلغت جوله التمويل؟"))
    assert int(np.argmax(scores)) == 1
    assert scores[0] == 0 and scores[2] == 0


def test_json_round_trip_gives_identical_scores():
    bm = BM25.fit([tokenize(d) for d in DOCS])
    again = BM25.from_json(bm.to_json())
    q = tokenize("ماسك وسيارة رودستر")
    assert np.allclose(bm.scores(q), again.scores(q))


def test_empty_index():
    assert BM25.fit([]).scores(["x"]).shape == (0,)
