import pytest

from rag.errors import DatasetError
from rag.eval.evalsets import load
from conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"


def test_squad_paragraphs_become_sources_grouped_by_article():
    s = load(MINI)
    assert s.format == "squad" and len(s.questions) == 38 and len(s.paragraphs) == 13
    ids = [p.id for p in s.paragraphs]
    assert len(set(ids)) == len(ids)
    by_id = {p.id: p for p in s.paragraphs}
    for q in s.questions:
        para = by_id[q.sources[0]]
        assert q.group == para.group
        assert any(a in para.text for a in q.answers)  # gold answers come from their paragraph


def test_limit_spreads_over_articles_and_keeps_only_theirs():
    s = load(MINI).limited(5)
    assert len(s.questions) == 5
    assert len({q.group for q in s.questions}) == 5  # one question from each of the 5 articles
    assert {p.group for p in s.paragraphs} == {q.group for q in s.questions}
    assert load(ROOT / "eval" / "dev.jsonl").limited(3).questions == load(ROOT / "eval" / "dev.jsonl").questions[:3]


def test_limit_keeps_unanswerable_questions_of_a_squad2_set():
    # the fixture lists each article's unanswerable question last, so taking
    # the first question of each article alone would measure no answerability
    s = load(ROOT / "tests" / "fixtures" / "mini-squad2.json")
    for n in range(2, len(s.questions)):
        part = s.limited(n)
        assert len(part.questions) == n
        assert any(q.impossible for q in part.questions) and any(not q.impossible for q in part.questions)
        assert {p.group for p in part.paragraphs} == {q.group for q in part.questions}
    assert sum(q.impossible for q in s.limited(7).questions) == 2  # its share: 7 * 3/10


def test_jsonl_dev_set():
    s = load(ROOT / "eval" / "dev.jsonl")
    assert s.format == "jsonl" and not s.paragraphs
    assert any(not q.answerable for q in s.questions) and any(q.history for q in s.questions)
    assert all(q.sources for q in s.questions if q.answerable)


@pytest.mark.parametrize("content, message", [
    ("", "no questions"),
    ("not json\n", "not JSON"),
    ('{"question": "x"}\n', "'answerable'"),
    ('{"question": "x", "answerable": true}\n', "needs an 'answer'"),
    ('{"data": [{"title": "t", "paragraphs": [{"context": "c"}]}]}', "not SQuAD"),
    ('{"data": 3}', "'data' list"),
])
def test_bad_files_get_one_clear_error(tmp_path, content, message):
    path = tmp_path / "set.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        load(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load(tmp_path / "nope.json")
    (tmp_path / "b.json").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DatasetError, match="UTF-8"):
        load(tmp_path / "b.json")
