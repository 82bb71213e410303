"""Two evaluation runs side by side (rag/eval/compare.py, `rag compare`), on
hand-written result folders: no model."""
import json

import pytest

from rag.cli import main
from rag.errors import DatasetError
from rag.eval.compare import changes, load_run, metric_deltas, outcome, overlap


def row(id, refused, gold=True, short=None, present=True, answerable=True, system="sanad", short_f1=None):
    if short_f1 is None:
        short_f1 = 1.0 if short == "ملياري دولار" and not refused else 0.0
    return {"system": system, "id": id, "question": f"سؤال {id}؟", "present": present, "impossible": False,
            "gold_answers": ["ملياري دولار"] if answerable else [], "refused": refused,
            "contains_gold": gold and not refused and answerable and present, "short_answer": short,
            "short_f1": short_f1}


def write(folder, metrics, rows):
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"sanad": metrics}), encoding="utf-8")
    (folder / "answers.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                          encoding="utf-8")
    return folder


@pytest.fixture
def runs(tmp_path):
    old = write(tmp_path / "old", {"answer.contains_gold": 0.5, "refusal.false_refusals": 0.25}, [
        row("a1", refused=True),  # becomes right
        row("a2", refused=False, short="ملياري دولار"),  # becomes wrong
        row("a3", refused=False, gold=False),  # stays wrong, now refused
        row("u1", refused=False, answerable=False, short="20 مليار"),  # a near miss loses its short answer
        row("a4", refused=False, short="ملياري دولار"),  # right both times; its short answer gets worse
        row("a5", refused=False, short="دولار (ملياري", short_f1=0.5),  # ... and better
        row("a1", refused=False, present=False),  # the article-removed pass of a1: unchanged
        row("a1", refused=True, system="bm25"),
    ])
    new = write(tmp_path / "new", {"answer.contains_gold": 0.75, "answer.short_f1": 0.4}, [
        row("a1", refused=False, short="ملياري دولار"),
        row("a2", refused=True),
        row("a3", refused=True),
        row("u1", refused=False, answerable=False),
        row("a4", refused=False, short="ملياري دولار لشراء", short_f1=0.8),
        row("a5", refused=False, short="دولار (ملياري دولار)", short_f1=0.67),
        row("a1", refused=False, present=False),
        row("a9", refused=True),  # only in the new run: not compared
    ])
    return load_run(old), load_run(new)


def test_outcomes_say_what_a_reader_would_check():
    assert outcome(row("a", refused=True)) == "refused"
    assert outcome(row("a", refused=False, short="ملياري دولار")) == "answered, gold «ملياري دولار»"
    assert outcome(row("a", refused=False, gold=False)) == "answered, no gold"
    assert outcome(row("u", refused=False, answerable=False)) == "answered"


def test_changes_are_listed_worse_first_and_only_for_questions_in_both_runs(runs):
    moved = changes(*runs, "sanad")
    # neither right nor wrong now: the short answers that lost most F1 first
    assert [(c.id, c.better) for c in moved] == [("a2", False), ("a1", True), ("a4", None), ("a3", None),
                                                 ("u1", None), ("a5", None)]
    assert moved[1].before == "refused" and moved[1].after == "answered, gold «ملياري دولار»"
    assert all(c.present for c in moved)
    shorts = {c.id: c.short_f1 for c in moved}
    # only a question that should be answered has a short-answer F1, and only when its short answer changed
    assert shorts == {"a2": (1.0, 0.0), "a1": (0.0, 1.0), "a4": (1.0, 0.8), "a3": None, "u1": None, "a5": (0.5, 0.67)}


def test_metric_deltas_keep_the_report_order_and_show_what_one_run_lacks(runs):
    deltas = metric_deltas(*runs, "sanad")
    assert [label for label, _, _ in deltas] == ["answer contains gold", "short answer F1", "false refusals"]
    assert deltas[0][1:] == (0.5, 0.75) and deltas[1][1:] == (None, 0.4) and deltas[2][1:] == (0.25, None)


def test_the_command_prints_both(runs, capsys):
    old, new = runs
    assert main(["compare", str(old.folder), str(new.folder), "--most", "2"]) == 0
    out = capsys.readouterr().out
    assert "6 questions changed: 1 now right, 1 now wrong, 4 neither" in out
    assert "4 answerable questions changed their short answer: 2 with more short F1, 2 with less" in out
    assert "- a2: answered, gold «ملياري دولار» -> refused (short F1 1.00 -> 0.00)" in out
    assert "... and 4 more" in out
    assert "+0.250" in out
    # a9 was asked only in the new run: said before the metrics, which are over different questions
    assert overlap(old, new, "sanad") == (6, 0, 1)
    assert "note: 6 questions in both runs, 0 only in the first and 1 only in the second" in out


def test_runs_of_different_sets_are_refused_in_one_line(runs, tmp_path, capsys):
    old, _ = runs
    other = write(tmp_path / "tydi", {"answer.contains_gold": 0.8}, [row("t1", refused=False), row("t2", refused=True)])
    assert overlap(old, load_run(other), "sanad") == (0, 6, 2)
    assert main(["compare", str(old.folder), str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the two runs asked no question in common (6 and 2 questions)")
    assert main(["compare", str(old.folder), str(old.folder)]) == 0
    assert "note:" not in capsys.readouterr().out  # the same questions: nothing to note


def test_a_folder_that_is_not_a_run_is_one_line(runs, tmp_path, capsys):
    old, _ = runs
    with pytest.raises(DatasetError, match="not a `rag eval` output folder"):
        load_run(tmp_path)
    assert main(["compare", str(old.folder), str(tmp_path / "missing")]) == 1
    assert "metrics.json is missing" in capsys.readouterr().err
    assert main(["compare", str(old.folder), str(old.folder), "--system", "dense"]) == 1
    assert "is not in both runs" in capsys.readouterr().err
