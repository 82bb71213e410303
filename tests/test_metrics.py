from hypothesis import given, strategies as st

from rag.eval import metrics as m


def test_contains_gold_ignores_diacritics_hamza_and_punctuation():
    assert m.contains_gold("بلغت الرسوم خمسين ألفَ دولار.", ["خمسين الف دولار"])
    assert m.contains_gold("انتقل إلى القاهرة", ["القاهرة"])
    assert m.contains_gold("يعيش بالقاهرة منذ 2017", ["القاهرة"])  # attached preposition
    assert not m.contains_gold("انتقل إلى الإسكندرية", ["القاهرة"])
    assert not m.contains_gold("anything", [""])


def test_token_f1_is_the_best_over_golds():
    assert m.token_f1("مدينة القاهرة", ["القاهرة", "مدينة القاهرة"]) == 1.0
    assert m.token_f1("القاهرة", ["مدينة القاهرة"]) == 2 * 1 * 0.5 / 1.5
    assert m.token_f1("", ["القاهرة"]) == 0.0


def test_rank_recall_and_mrr():
    ranking = m.dedupe(["a", "a", "b", "c", "b"])
    assert ranking == ["a", "b", "c"]
    ranks = [m.rank_of(ranking, {"a"}), m.rank_of(ranking, {"c"}), m.rank_of(ranking, {"z"})]
    assert ranks == [1, 3, None]
    assert m.recall_at(ranks, 1) == 1 / 3 and m.recall_at(ranks, 5) == 2 / 3
    assert abs(m.mrr(ranks) - (1 + 1 / 3) / 3) < 1e-12


def test_refusal_scores():
    r = m.refusal([True, True, False, True], [False, False, True, False])
    assert r["refused_when_absent"] == 0.75 and r["false_refusals"] == 0.25
    assert r["precision"] == 0.75 and abs(r["f1"] - 0.75) < 1e-12
    assert m.refusal([False], [False])["f1"] == 0.0  # nothing refused: precision and recall 0, not undefined
    # no questions under a share: not measured, rather than a 0 that reads as "never refused"
    assert m.refusal([], [False, True]) == {"refused_when_absent": None, "false_refusals": 0.5,
                                            "precision": None, "recall": None, "f1": None}
    assert m.refusal([True], [])["false_refusals"] is None


@given(st.lists(st.one_of(st.none(), st.integers(1, 30)), max_size=50))
def test_recall_is_monotone_in_k_and_bounds_mrr(ranks):
    values = [m.recall_at(ranks, k) for k in (1, 5, 10, 30)]
    assert values == sorted(values) and all(0 <= v <= 1 for v in values)
    assert m.recall_at(ranks, 1) <= m.mrr(ranks) <= m.recall_at(ranks, 30)


@given(st.text(min_size=1, max_size=40))
def test_any_text_contains_itself_and_f1_is_one(text):
    if m.answer_tokens(text):
        assert m.contains_gold(f"قال: {text}.", [text])
        assert m.token_f1(text, [text]) == 1.0


def test_refused_at_reads_the_curve_at_a_cost_of_false_refusals():
    absent = [0.1, 0.2, 0.9, None]  # None: refused before any score, at every threshold
    normal = [0.5, 0.8, 0.95, 0.3]
    assert m.refused_at(absent, normal, 0.0) == 0.75  # threshold 0.3: 0.1, 0.2 and None refused
    assert m.refused_at(absent, normal, 0.25) == 0.75  # threshold 0.5 costs 0.3, gains nothing
    assert m.refused_at(absent, normal, 0.75) == 1.0  # threshold 0.95 refuses 0.9 too
    assert m.refused_at([0.2], [None, None, 0.5], 0.5) is None  # two in three refused whatever the threshold
    assert m.refused_at([], normal, 0.05) is None and m.refused_at(absent, [], 0.05) is None


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=30),
       st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=30),
       st.floats(0, 1))
def test_refused_at_is_the_best_threshold_and_grows_with_the_cost(absent, normal, cost):
    def share(scores, t):
        return sum(s is None or s < t for s in scores) / len(scores)
    cuts = [s for s in absent + normal if s is not None] + [2.0]
    # refused_at allows a share to exceed the cost by float noise (1e-12), so that 1/20 counts as 0.05
    best = max((share(absent, t) for t in cuts if share(normal, t) <= cost + 1e-12), default=None)
    got = m.refused_at(absent, normal, cost)
    assert got == best or (got is not None and best is not None and abs(got - best) < 1e-12)
    more = m.refused_at(absent, normal, min(1.0, cost + 0.1))
    assert got is None or (more is not None and more >= got)
