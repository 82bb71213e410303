"""The evaluation harness end to end with the fake embedder (fast); the same
with the real model and the CLI is in test_eval_cli.py."""
import json

import pytest

from rag.config import Config
from rag.eval.evalsets import load
from rag.eval.evaluate import SYSTEMS, EvalOptions, evaluate
from rag.eval.report import SUMMARY_KEYS, TABLE, eval_summary, write_report
from conftest import ROOT, FakeLateEmbedder, fake_reader_decider

MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"
KEYS = ["retrieval.recall@1", "retrieval.recall@5", "retrieval.recall@10", "retrieval.mrr",
        "answer.contains_gold", "answer.f1", "citations.contains_gold", "citations.verbatim",
        "latency_ms.p50", "latency_ms.p95"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    config = Config.load(env={}, model=FakeLateEmbedder.model_id, index_dir=tmp / "main-index")
    # a stand-in reader decides; the rules decide on the same evidence beside it
    result = evaluate(load(MINI), config, EvalOptions(work_dir=tmp / "work", folds=3), embedder=FakeLateEmbedder(),
                      decider=fake_reader_decider(FakeLateEmbedder.model_id))
    out = tmp / "out"
    write_report(result, out, command="rag eval mini-squad.json")
    return result, out, tmp


def test_every_system_has_the_stable_metric_names(run):
    result, out, _ = run
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == list(SYSTEMS)
    for system in SYSTEMS:
        assert set(KEYS) <= set(metrics[system]), system
        assert all(0 <= metrics[system][k] <= 1 for k in KEYS if not k.startswith("latency"))
    for key in ("refusal.refused_when_absent", "refusal.false_refusals", "refusal.precision", "refusal.f1",
                "answer.short_f1", "answer.short_em"):
        assert key in metrics["sanad"] and key in metrics["sanad-rules"] and key not in metrics["bm25"]
    # the reader's curve read at issue 10's cost of false refusals, and at twice it
    five, ten = metrics["sanad"]["refusal.refused_at_5pct_false"], metrics["sanad"]["refusal.refused_at_10pct_false"]
    assert 0 < five <= ten <= 1
    # every threshold is tried, so no point of the report's coarser curve does better at that cost
    (curve,) = [points for name, points in result.curves.items() if name.startswith("sanad")]
    assert five >= max(p["refused_when_absent"] for p in curve if p["false_refusals"] <= 0.05)
    assert ten >= max(p["refused_when_absent"] for p in curve if p["false_refusals"] <= 0.10)
    assert "refusal.refused_at_5pct_false" not in metrics["sanad-rules"]
    assert any(key == "refusal.refused_at_5pct_false" for key, _ in TABLE)


def test_citations_are_verbatim_for_every_system(run):
    result, _, _ = run
    assert all(result.metrics[s]["citations.verbatim"] == 1.0 for s in SYSTEMS)


def test_recall_is_monotone_and_retrieval_finds_most_gold_paragraphs(run):
    result, _, _ = run
    for s in SYSTEMS:
        m = result.metrics[s]
        assert m["retrieval.recall@1"] <= m["retrieval.recall@5"] <= m["retrieval.recall@10"]
    assert result.metrics["bm25"]["retrieval.recall@5"] >= 0.8  # the questions share words with their paragraph


def test_questions_asked_without_their_article_never_cite_it(run):
    result, _, _ = run
    absent = [r for r in result.rows if not r["present"]]
    assert len(absent) == 2 * result.counts["questions"] == 2 * 38  # the reader's and the rules' answers
    assert result.counts["asked_absent"] == 38
    paragraphs = {p.id: p.group for p in load(MINI).paragraphs}
    for r in absent:
        group = paragraphs[r["gold_sources"][0]]
        assert all(paragraphs[c["source"]] != group for c in r["citations"])


def test_rows_per_system_and_question(run):
    result, out, _ = run
    lines = (out / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(result.rows) == 38 * len(SYSTEMS) + 2 * 38
    row = json.loads(lines[0])
    assert {"system", "id", "question", "answer", "refused", "citations", "rank", "latency_ms", "kind",
            "short_answer", "reason", "short_f1"} <= set(row)


def test_report_and_plots_are_written(run):
    result, out, _ = run
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| metric | sanad | sanad-rules | bm25 | dense | langchain |" in report
    assert "## By question kind: sanad" in report and "| كم |" in report
    assert "rag eval mini-squad.json" in report
    for png in ("recall_at_k.png", "refusal_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in report
    for curve in result.curves.values():  # a stricter threshold never refuses less
        absent = [p["refused_when_absent"] for p in curve]
        normal = [p["false_refusals"] for p in curve]
        assert absent == sorted(absent) and normal == sorted(normal)


def test_the_main_index_is_untouched_and_the_dataset_index_is_reused(run, tmp_path):
    result, _, tmp = run
    assert not (tmp / "main-index").exists()
    assert (tmp / "work" / "index" / "current" / "manifest.json").exists()
    fake = FakeLateEmbedder()
    config = Config.load(env={}, model=FakeLateEmbedder.model_id)
    evaluate(load(MINI), config, EvalOptions(work_dir=tmp / "work", folds=1, systems=("sanad",)), embedder=fake,
             decider=fake_reader_decider(fake.model_id))
    assert fake.embedded == []  # same paragraphs: nothing embedded again


def test_limit_and_jsonl_set(tmp_path):
    config = Config.load(env={}, model=FakeLateEmbedder.model_id)
    decider = fake_reader_decider(FakeLateEmbedder.model_id)
    r = evaluate(load(MINI), config, EvalOptions(work_dir=tmp_path / "w", limit=6, systems=("sanad", "bm25")),
                 embedder=FakeLateEmbedder(), decider=decider)
    assert r.counts["questions"] == 6 and set(r.metrics) == {"sanad", "bm25"}
    r = evaluate(load(ROOT / "eval" / "dev.jsonl"), config,
                 EvalOptions(work_dir=tmp_path / "d", sources_dir=ROOT / "sources", systems=("sanad", "dense")),
                 embedder=FakeLateEmbedder(), decider=decider)
    assert r.counts["unanswerable"] >= 20 and r.counts["asked_absent"] == 0
    assert "refusal.refused_when_absent" in r.metrics["sanad"]


def test_squad2_unanswerable_questions_are_asked_with_their_paragraph_present(tmp_path):
    config = Config.load(env={}, model=FakeLateEmbedder.model_id)
    r = evaluate(load(ROOT / "tests" / "fixtures" / "mini-squad2.json"), config,
                 EvalOptions(work_dir=tmp_path / "w", folds=1, systems=("sanad", "sanad-rules")),
                 embedder=FakeLateEmbedder(), decider=fake_reader_decider(FakeLateEmbedder.model_id))
    assert r.counts["unanswerable"] == 3 and r.counts["asked_absent"] == 0
    impossible = [x for x in r.rows if x["impossible"]]
    assert len(impossible) == 6 and all(x["present"] for x in impossible)  # 3 questions x 2 systems
    for system in ("sanad", "sanad-rules"):
        m = r.metrics[system]
        assert 0 <= m["answerability.accuracy"] <= 1 and 0 <= m["answerability.balanced_accuracy"] <= 1
        refused = sum(x["refused"] for x in impossible if x["system"] == system) / 3
        answered = sum(not x["refused"] for x in r.rows
                       if x["system"] == system and x["present"] and x["gold_answers"]) / 7
        assert m["answerability.balanced_accuracy"] == pytest.approx((refused + answered) / 2)
        assert m["refusal.refused_when_absent"] == pytest.approx(refused)  # unanswerable rows count as absent
    assert set(r.by_kind["sanad"]) <= {"كم", "متى", "من", "أين", "ما", "لماذا", "كيف", "هل", "other"}


def test_paragraphs_are_indexed_from_memory_as_the_folder_of_files_was():
    """SQuAD paragraphs become sources without files: in the order a folder
    of '<id>.md' files was read, titled with their article, the text as given
    (stripped), every source distinct."""
    from rag.eval.evaluate import paragraph_sources
    from rag.ingest.sources import SourceList

    evalset = load(MINI)
    sources = paragraph_sources(evalset)
    assert [s.id for s in sources] == sorted((p.id for p in evalset.paragraphs), key=lambda i: f"{i}.md")
    by_id = {p.id: p for p in evalset.paragraphs}
    for s in sources:
        assert s.text == by_id[s.id].text.strip() and s.title == by_id[s.id].group
        assert s.meta["article"] == by_id[s.id].group
    scan = SourceList(sources).scan()
    assert scan.sources == sources and SourceList(sources).fingerprint() == {"files": {s.id: s.sha256 for s in sources}}


def test_a_question_refused_whatever_its_score_is_refused_at_every_point_of_the_curve(tmp_path):
    """A window whose short answer has a form the question rules out refuses with a score above the
    threshold; lowering the threshold would not answer it, so the curve must not count it as answered."""
    from rag.answer.decision import NOT_SUPPORTED, ReaderDecider, refuse

    class FormRefuses(ReaderDecider):
        def decide(self, question, evidence, table):
            d = super().decide(question, evidence, table)
            return refuse(NOT_SUPPORTED, 1.0, candidates=d.candidates) if d.candidates else d

    base = fake_reader_decider(FakeLateEmbedder.model_id)
    config = Config.load(env={}, model=FakeLateEmbedder.model_id)
    r = evaluate(load(MINI), config, EvalOptions(work_dir=tmp_path / "w", folds=2, systems=("sanad",)),
                 embedder=FakeLateEmbedder(), decider=FormRefuses(base.reader, base.settings))
    assert r.metrics["sanad"]["refusal.false_refusals"] == 1.0
    (curve,) = [points for name, points in r.curves.items() if name.startswith("sanad")]
    assert all(p["false_refusals"] == 1.0 and p["refused_when_absent"] == 1.0 for p in curve)
    assert r.metrics["sanad"]["refusal.refused_at_10pct_false"] is None


def test_a_share_of_the_answered_with_nothing_answered_is_not_measured():
    from rag.eval.evaluate import summarize

    def row(refused, cited_gold=False):
        return {"present": True, "gold_answers": ["x"], "gold_sources": ["s"], "rank": 1, "refused": refused,
                "contains_gold": not refused and cited_gold, "f1": 0.0, "cited_gold": cited_gold,
                "short_f1": 0.0, "short_em": False, "citations": [], "latency_ms": 1.0}

    nothing = summarize([row(True), row(True)], {}, refuses=True)
    assert nothing["answer.answered"] == 0.0 and nothing["citations.contains_gold"] is None
    some = summarize([row(True), row(False, cited_gold=True), row(False)], {}, refuses=True)
    assert some["citations.contains_gold"] == 0.5  # of the two answered, not of all three


def test_answers_marked_uncertain_are_counted_apart_with_how_often_each_kind_holds_gold():
    from rag.eval.evaluate import summarize

    def row(refused=False, gold=True, uncertain=False, present=True):
        return {"present": present, "gold_answers": ["x"], "gold_sources": ["s"], "rank": 1, "refused": refused,
                "contains_gold": not refused and gold, "f1": 0.0, "cited_gold": gold, "short_f1": 0.0,
                "short_em": False, "citations": [], "latency_ms": 1.0, "uncertain": uncertain}

    rows = [row(), row(), row(gold=False), row(uncertain=True), row(gold=False, uncertain=True),
            row(present=False, uncertain=True),  # its article removed: an answer to it holds no gold
            row(refused=True)]
    out = summarize(rows, {}, refuses=True)
    assert out["answer.uncertain"] == 0.5  # 3 of the 6 answers
    assert out["answer.right_when_sure"] == pytest.approx(2 / 3)
    assert out["answer.right_when_uncertain"] == pytest.approx(1 / 3)
    assert out["answer.related_gold_when_uncertain_wrong"] == 0.0  # the one wrong uncertain answer offered none
    rows[4]["related_gold"] = True
    assert summarize(rows, {}, refuses=True)["answer.related_gold_when_uncertain_wrong"] == 1.0
    none = summarize([row(refused=True)], {}, refuses=True)
    assert none["answer.uncertain"] is None and none["answer.right_when_uncertain"] is None
    assert none["answer.related_gold_when_uncertain_wrong"] is None
    assert "answer.uncertain" not in summarize(rows, {}, refuses=False)  # the baselines mark nothing


def test_summary_lists_the_curve_points_and_skips_unmeasured_rows():
    assert set(SUMMARY_KEYS) <= {key for key, _ in TABLE}  # a misspelt key would drop its row silently
    metrics = {"sanad": {"answer.short_f1": 0.42, "refusal.refused_at_5pct_false": 0.8125,
                         "refusal.refused_at_10pct_false": 0.877},
               "bm25": {"answer.short_f1": 0.1}}
    lines = eval_summary(metrics, ["sanad", "bm25"]).splitlines()
    assert lines[0].split() == ["sanad", "bm25"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    # the order is SUMMARY_KEYS', a row only where some system measured it, '-' where one did not
    assert list(rows) == [k for k in SUMMARY_KEYS if k in metrics["sanad"]]
    assert rows["refusal.refused_at_5pct_false"] == ["0.812", "-"]
    assert rows["answer.short_f1"] == ["0.42", "0.1"]
    # every value ends under its system's name, the longest key's row included
    end = lines[0].index("sanad") + len("sanad")
    for line in lines[1:]:
        key, first = line.split()[:2]
        assert line.index(first, len(key)) + len(first) == end, line
