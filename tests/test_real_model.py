"""End to end with the real embedded model on the real sources."""
import subprocess
import sys

import pytest

from rag.index import index as ix
from rag.index import build as bx
from rag.config import Config
from rag.index.embedding import SentenceTransformerEmbedder
from conftest import ROOT, SOURCES

pytestmark = pytest.mark.model

QUESTIONS = [  # paraphrased, not copied from the text
    ("كم دفع ألتمان ليحجز سيارة تيسلا الرياضية؟", "50 ألف دولار"),
    ("بكم عرض ماسك شراء اوبن اي اي؟", "97.4 مليار"),
    ("How much did Nvidia put into xAI's funding round?", "ملياري دولار"),
    ("مين كان مع ترامب في السعودية وقت توقيع اتفاق ستارجيت؟", "السعودية"),
    ("ما المجالات الخمسة التي رأى ماسك أنها الأكثر تأثيرا؟", "خمسة مجالات"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    config = Config.load(env={}, sources_dir=SOURCES, index_dir=tmp_path_factory.mktemp("real") / "index")
    embedder = SentenceTransformerEmbedder.from_config(config)
    report = bx.build(config, embedder)
    return config, embedder, report


def test_builds_all_sources(built):
    _, _, report = built
    assert report.sources == 5 and not report.skipped and report.chunks >= 20


@pytest.mark.parametrize("question, expected", QUESTIONS)
def test_dense_retrieval_puts_the_answer_in_the_top_two(built, question, expected):
    config, embedder, _ = built
    loaded = ix.load(config)
    hits = loaded.search_dense(embedder.embed_query(question), 2)
    assert any(expected in loaded.chunks[i].text for i, _ in hits), [loaded.chunks[i].id for i, _ in hits]


def test_cli_index_then_incremental(tmp_path):
    cmd = [sys.executable, "-m", "rag", "index", "--sources", str(SOURCES), "--index", str(tmp_path / "ix")]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "Indexed 5 sources (5 embedded, 0 unchanged)" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "Indexed 5 sources (0 embedded, 5 unchanged)" in second.stdout


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ix"
    r = subprocess.run([sys.executable, "-m", "rag", "index", "--sources", str(SOURCES), "--index", str(path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    return path


def ask(index, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "rag", "ask", "--sources", str(SOURCES), "--index", str(index),
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=600, input=stdin)


def test_cli_ask_text_and_json(cli_index):
    import json

    r = ask(cli_index, "كم بلغت رسوم حجز سيارة رودستر؟")
    assert r.returncode == 0 and "50 ألف دولار" in r.stdout and "[1]" in r.stdout and "المصادر:" in r.stdout
    r = ask(cli_index, "--json", "كم سعر الذهب اليوم؟")
    out = json.loads(r.stdout)
    assert set(out) >= {"question", "answer", "refused", "citations", "timings_ms", "short_answer", "reason"}
    assert out["refused"] is True and out["citations"] == [] and out["reason"] == "not_supported"
    assert out["short_answer"] is None
    r = ask(cli_index, "--json", "كم بلغت رسوم حجز سيارة رودستر؟")
    out = json.loads(r.stdout)
    short, cites = out["short_answer"], {c["n"]: c for c in out["citations"]}
    assert "50 ألف" in short["text"] and out["answer"].startswith(short["text"])
    c = cites[short["n"]]
    assert c["start"] <= short["start"] < short["end"] <= c["end"]
    assert c["text"][short["start"] - c["start"]:short["end"] - c["start"]] == short["text"]


def test_cli_ask_with_a_broken_reader_is_one_line(cli_index, tmp_path):
    import os
    import shutil

    broken = tmp_path / "reader"
    shutil.copytree(ROOT / "rag" / "models" / "reader", broken)
    (broken / "adapter.safetensors").write_bytes(b"truncated")
    for reader, message in ((broken, "is damaged"), (tmp_path / "none", "no reader at")):
        r = subprocess.run([sys.executable, "-m", "rag", "ask", "--sources", str(SOURCES), "--index", str(cli_index),
                            "سؤال؟"], capture_output=True, text=True, cwd=ROOT, timeout=600,
                           env={**os.environ, "SANAD_READER": str(reader)})
        assert r.returncode == 1 and "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_cli_ask_jsonl_keeps_going_past_a_bad_line(cli_index):
    import json

    lines = ('{"id": 1, "question": "بكم حاول ماسك شراء OpenAI؟"}\nnot json\n'
             '{"id": "f", "question": "ومتى حجزها؟", "history": ["كم بلغت رسوم حجز سيارة رودستر؟"]}\n')
    r = ask(cli_index, "--jsonl", stdin=lines)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, None, "f"]
    assert "97.4" in rows[0]["answer"] and all(set(c) == {"n", "source", "title", "text", "start", "end"}
                                                for c in rows[0]["citations"])
    assert rows[1]["error"].startswith("line 2") and "2018" in rows[2]["answer"]
    assert r.returncode == 1 and "1 line(s) could not be read" in r.stderr


def test_cli_ask_without_an_index(tmp_path):
    r = ask(tmp_path / "none", "سؤال؟")
    assert r.returncode == 1 and "there is no index" in r.stderr and "Traceback" not in r.stderr


def test_late_chunking_vectors(built):
    import numpy as np

    _, embedder, _ = built
    text = ("حاول ماسك شراء OpenAI مقابل 97.4 مليار دولار. رُفض العرض بشكل قاطع. "
            "وفي سبتمبر رفعت xAI دعوى مضادة ضد OpenAI.")
    spans = [(0, 46), (47, 68)]
    passages, per_text = embedder.embed_passages_with_spans([text], [spans])
    assert float(passages[0] @ embedder.embed_passages([text])[0]) > 0.999  # same as the plain pass
    vecs = per_text[0]
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    alone = embedder.embed_passages([text[a:b] for a, b in spans])
    assert (vecs * alone).sum(axis=1).min() > 0.75  # close to each sentence embedded alone
    q = embedder.embed_query("بكم عرض ماسك شراء OpenAI؟")
    assert float(vecs[0] @ q) > float(vecs[1] @ q)


def test_word_vectors_are_the_middle_layers_hidden_states_and_align_across_scripts(built, monkeypatch):
    import numpy as np
    import torch

    from rag.answer.crosslingual import align, word_spans

    _, embedder, _ = built
    text = "لذلك حلم بإنشاء مستعمرات بشرية على كواكب أخرى، وخصوصاً المريخ"
    words, spans = word_spans(text)
    (vecs,) = embedder.word_vectors([text], [spans], "document")
    assert vecs.shape == (len(words), 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    # the cut encoder gives the full model's layer 8
    m = embedder.model
    enc = m.tokenizer([embedder._prompt("document") + text], return_tensors="pt")
    with torch.inference_mode():
        full = m[0].auto_model(**enc, output_hidden_states=True).hidden_states[8]
        cut = embedder._lower_layers(8)(**enc).last_hidden_state
    assert torch.allclose(full, cut, atol=1e-5)
    with monkeypatch.context() as patched:  # a model not built as BERT is read by the whole pass
        patched.setattr(embedder, "_lower_layers", lambda n: None)
        (whole,) = embedder.word_vectors([text], [spans], "document")
    assert np.allclose(whole, vecs, atol=1e-4)
    question = "On which planet did Musk want human colonies?"
    q_words, q_spans = word_spans(question)
    (q_vecs,) = embedder.word_vectors([question], [q_spans], "query")
    aligned = align(q_words, q_vecs, [(words, vecs)])
    assert aligned.get("colonies") == "مستعمرات" and aligned.get("human") == "بشرية", aligned


ODD = ["؟" * 3000, "x" * 20_000, "🙂🙂 ما هذا؟ 🙂", "SELECT * FROM users; -- كم؟",
       "كَمْ بَلَغَتْ رُسُومُ حَجْزِ سَيَّارَةِ رُودْسْتَر؟", "How much did Nvidia invest? وكم دفعت إنفيديا",
       "<script>alert(1)</script> من هو ماسك؟", "ما " * 500]


@pytest.fixture(scope="module")
def reader_sanad(built):
    from rag.pipeline import Sanad

    config, embedder, _ = built
    sanad = Sanad(config, embedder=embedder)  # the shipped reader decides
    sanad.warm_up()  # load the reader here: the bound below is on answering, not on loading
    return sanad


@pytest.mark.parametrize("question", ODD)
def test_the_reader_bounds_any_question(reader_sanad, question):
    """Any length, script or content: an answer or a refusal with verbatim
    citations and a short answer inside its citation, and bounded work: the
    reader reads at most ``settings.windows`` windows (each cut to MAX_TOKENS
    when encoded), whatever the question. The wall-clock bound only catches a
    hang; speed is BENCHMARKS.md's (a 5 s bound here failed once on a host
    busy with training, at 5.7 s)."""
    import time

    sanad = reader_sanad
    reader = sanad.decider.reader
    read, seen = reader.read, []

    def spy(q, windows):
        seen.append(len(windows))
        return read(q, windows)

    reader.read = spy
    try:
        t0 = time.perf_counter()
        a = sanad.ask(question)
        assert time.perf_counter() - t0 < 30
    finally:
        del reader.read
    assert sum(seen) <= sanad.settings.windows
    for c in a.citations + a.related:
        assert sanad.index.sources[c.source].text[c.start:c.end] == c.text
    if a.short_answer:
        c = a.citations[a.short_answer.n - 1]
        assert c.start <= a.short_answer.start < a.short_answer.end <= c.end


EXAMPLE_ANSWERS = {  # what each example on the page must be answered with (the articles say so)
    "كم بلغت رسوم حجز سيارة رودستر التي دفعها ألتمان؟": "50 ألف دولار",
    "بكم حاول ماسك شراء OpenAI؟": "97.4 مليار دولار",
    "وين كان ماسك لحظة توقيع اتفاق ستارجيت؟": "السعودية",
    "When did Musk sue OpenAI and Altman?": "2024",
}


def test_the_pages_examples_are_answered_right(built):
    """A user's first click: every example question on the page gets its
    right short answer, quoted from the articles (the reader and the
    examples change independently)."""
    import app
    from rag.pipeline import Sanad

    config, embedder, _ = built
    assert set(app.EXAMPLES) == set(EXAMPLE_ANSWERS)
    sanad = Sanad(config, embedder)
    for question, expected in EXAMPLE_ANSWERS.items():
        answer = sanad.ask(question)
        assert not answer.refused and answer.short_answer is not None, (question, answer.answer)
        assert answer.short_answer.text == expected, (question, answer.short_answer.text)
