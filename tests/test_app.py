"""The page's rendering, without a browser (tests/test_browser.py has one)."""
import html
import re
from dataclasses import replace

import pytest

import app
from conftest import SOURCES, FakeEmbedder
from rag.answer.compose import Answer, Citation, ShortAnswer
from rag.config import Config


@pytest.fixture(scope="module")
def sanad(fake_sanad):
    return fake_sanad


def test_answer_has_links_to_sources_with_the_quote_highlighted(sanad):
    answer = sanad.ask("كم بلغت رسوم حجز سيارة رودستر؟")
    out = app.render(sanad, answer, turn=3)
    c = answer.citations[0]
    assert "href='#src-3-1'" in out and "id='src-3-1'" in out
    assert f"<mark>{app._text(c.text)}</mark>" in out
    assert "class='refusal'" not in out


def test_refusal_looks_different_and_related_reading_is_not_highlighted(sanad):
    out = app.render(sanad, sanad.ask("كم عدد موظفي شركة xAI؟"), turn=1)
    assert out.startswith("<div class='refusal'>") and "قد يهمك" in out
    assert "<mark>" not in out and "href='#" not in out


def test_streaming_shows_words_before_sources(sanad):
    answer = sanad.ask("كم بلغت رسوم حجز سيارة رودستر؟")
    partial = app.render(sanad, answer, turn=1, upto=4)
    assert "class='sources'" not in partial and len(partial) < len(app.render(sanad, answer, turn=1))


def test_html_in_sources_and_questions_is_escaped(sanad):
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    text = sanad.index.sources["musk-stargate-uae"].text
    fake = Answer(evil, "x", False, (Citation(1, "musk-stargate-uae", evil, text[:20], 0, 20),))
    out = app.render(sanad, fake, turn=1)
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert app._text("a\n<b>") == "a<br>&lt;b&gt;"


def test_respond_ignores_empty_and_keeps_too_long_input(sanad):
    respond = _respond(sanad)
    assert list(respond("   ", [], [])) == [(app.gr.update(), [], [])]
    (box, messages, history), = list(respond("س" * 5000, [], []))
    assert box == app.gr.update() and "الحد الأقصى" in messages[-1]["content"] and history == []


def test_respond_streams_then_records_the_question_for_follow_ups(sanad):
    steps = list(_respond(sanad)("كم بلغت رسوم حجز سيارة رودستر؟", [], []))
    assert steps[0][1][-1]["content"] == app.THINKING
    box, messages, history = steps[-1]
    assert box == "" and history == ["كم بلغت رسوم حجز سيارة رودستر؟"] and "class='sources'" in messages[-1]["content"]
    assert len(steps) > 3  # streamed in several updates


def test_a_failure_becomes_a_friendly_message(sanad, monkeypatch):
    monkeypatch.setattr(sanad, "ask", lambda *a, **k: 1 / 0)
    box, messages, history = list(_respond(sanad)("سؤال عن ماسك؟", [], []))[-1]
    assert app.FAILED in messages[-1]["content"] and "ZeroDivision" not in messages[-1]["content"]


def _respond(sanad):
    ui = app.build_ui(sanad)
    fns = [f.fn for f in ui.fns.values() if getattr(f.fn, "__name__", "") == "respond"]
    return fns[0]


def test_bidi_overrides_do_not_reach_the_page(sanad):
    steps = list(_respond(sanad)("\u202eكم بلغت رسوم حجز سيارة رودستر؟\u202c\x00", [], []))
    shown = steps[-1][1][0]["content"]
    assert "\u202e" not in shown and "\x00" not in shown and shown.startswith("كم بلغت")


def _with_short(sanad, phrase="50 ألف دولار"):
    """A real answer from the fake pipeline with a short answer placed inside
    its first citation (the fake reader decides nothing about the page)."""
    answer = sanad.ask("كم بلغت رسوم حجز سيارة رودستر؟")
    c = answer.citations[0]
    at = c.start + c.text.index(phrase)
    return replace(answer, short_answer=ShortAnswer(c.n, phrase, at, at + len(phrase)))


def test_short_answer_comes_first_in_bold_and_is_highlighted_in_quote_and_source(sanad):
    answer = _with_short(sanad)
    out = app.render(sanad, answer, turn=2)
    assert out.startswith("<div class='short-answer' dir='auto'><strong>50 ألف دولار</strong>")
    marked = "<mark class='short'>50 ألف دولار</mark>"
    body, sources = out.split("<div class='sources'>")
    assert marked in body and marked in sources  # in the quote, and inside the quote's highlight in the panel
    panel = sources[sources.index("<mark>"):]
    assert panel.index(marked) < panel.index("</mark>", len("<mark>") + len(marked))
    # the highlighted quote still reads exactly as the cited text
    c = answer.citations[0]
    quote = body[body.index("<span class='quote'>") + len("<span class='quote'>"):body.index("</span>")]
    assert re.sub("<[^>]+>", "", quote) == app._text(c.text)


def test_short_answer_is_shown_while_the_quote_streams(sanad):
    partial = app.render(sanad, _with_short(sanad), turn=1, upto=4)
    assert "<strong>50 ألف دولار</strong>" in partial and "class='sources'" not in partial


def test_short_answer_text_is_escaped(sanad):
    answer = _with_short(sanad)
    evil = replace(answer, short_answer=replace(answer.short_answer, text="<b>x</b>"))
    assert "<b>x</b>" not in app.render(sanad, evil, turn=1)


def test_a_broken_reader_at_start_shows_its_own_notice(fake, tmp_path):
    from rag.index import build as bx
    from rag.pipeline import Sanad

    config = Config.load(env={}, sources_dir=SOURCES, index_dir=tmp_path / "index", model=FakeEmbedder.model_id,
                         reader=str(tmp_path / "no-reader"))
    bx.build(config, fake)
    notice = app.prepare(Sanad(config, embedder=fake))
    assert notice == app.NO_READER and "rag train-reader" in notice


def test_markdown_sources_read_as_prose_in_quotes_sources_and_related(sanad):
    """A list item of the feud overview ("- **2023: ...**: ...") quoted, shown
    in the source panel and offered as related reading, without "**", "###"
    or list dashes; its words unchanged."""
    from rag.ingest.display import prose

    text = sanad.index.sources["musk-altman-feud-overview"].text
    start = text.index("**2023")
    end = text.index("كبديل.", start) + len("كبديل.")
    c = Citation(1, "musk-altman-feud-overview", "العداوة", text[start:end], start, end)
    heading = text.index("### ")
    h = Citation(1, "musk-altman-feud-overview", "العداوة", text[heading:heading + 40], heading, heading + 40)
    outs = [app.render(sanad, Answer("x", "q", False, (c,)), turn=1),
            app.render(sanad, Answer("لا تتضمن المقالات", "q", True, (), related=(c, h)), turn=1)]
    for out in outs:
        shown = re.sub("<[^>]+>", "", out)
        assert "**" not in shown and "###" not in shown and "- 2023" not in shown
        assert "2023: إطلاق ماسك xAI و Grok: نعم" in shown
    assert app._text(prose(text, start, end)) in re.sub("<[^>]+>", "", outs[0].split("<div class='sources'>")[0])


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory):
    """A Sanad over a saved news page, a JSONL export (one line with a
    script URL) and a Markdown article, indexed with the fake embedder."""
    import json
    import shutil

    from rag.index import build as bx
    from conftest import ROOT, lenient_sanad

    tmp = tmp_path_factory.mktemp("newsroom")
    src = tmp / "sources"
    src.mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "formats" / "xai-funding.html", src)
    shutil.copy(SOURCES / "musk-stargate-uae.md", src)
    lines = [{"id": "a1", "title": "خبر قديم", "date": "2024-01-02", "url": "javascript:alert(1)",
              "text": "خبر قديم عن شركة إنفيديا ونتائجها المالية في الربع الأخير من العام."}]
    (src / "cms.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    config = Config.load(env={}, sources_dir=src, index_dir=tmp / "index", model=FakeEmbedder.model_id,
                         cache_dir=tmp / "cache")
    fake = FakeEmbedder()
    bx.build(config, fake)
    return lenient_sanad(config, fake)


def test_a_source_shows_its_date_author_outlet_and_a_safe_link(newsroom):
    text = newsroom.source_text("xai-funding")
    at = text.index("أعلنت شركة xAI")
    c = Citation(1, "xai-funding", "إنفيديا", text[at:at + 40], at, at + 40)
    out = app.render(newsroom, Answer("q", "a", False, (c,)), turn=1)
    assert "2025-10-08" in out and "سارة المنصوري" in out and "الأفق الرقمي" in out
    assert ("<a href='https://alofuq.example/tech/2025/10/08/nvidia-xai-funding' target='_blank' "
            "rel='noopener noreferrer'>") in out
    text = newsroom.source_text("cms-a1")
    old = Citation(1, "cms-a1", "خبر قديم", text[:10], 0, 10)
    out = app.render(newsroom, Answer("q", "a", False, (old,)), turn=1)
    assert "javascript:" not in out and "2024-01-02" in out  # a URL that is not http(s) is no link


def test_the_sources_view_lists_every_article_newest_first(newsroom):
    out = app.catalogue_html(newsroom)
    rows = out.split("<tr>")[2:]  # after the header row
    assert len(rows) == 3 and "(3 مقالًا)" in out
    assert "إنفيديا تضخ ملياري دولار" in rows[0] and "2025-10-08" in rows[0] and "خبر قديم" in rows[1]
    assert "ستارجيت" in rows[2] or "ستارغيت" in rows[2]  # undated last
    counts = {s.id: n for s, n in newsroom.catalogue()}
    assert all(n > 0 for n in counts.values()) and sum(counts.values()) == len(newsroom.index.chunks)
    assert "javascript:" not in out and "rel='noopener noreferrer'" in out


@pytest.mark.parametrize("url, message", [("ftp://127.0.0.1/v1", "http:// or https://"),
                                          ("http://me:sk-secret-1@127.0.0.1/v1", "user name or password")])
def test_the_app_refuses_a_bad_llm_endpoint_at_start(url, message):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    r = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "SANAD_LLM_URL": url})
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert "sk-secret-1" not in r.stderr + r.stdout


def test_the_copy_button_copies_the_answer_as_shown_with_its_sources(sanad):
    """Plain text, as the reply reads: the short answer, each quote as prose with its
    [n], then the sources by title; carried escaped in the reply, one line of HTML."""
    answer = _with_short(sanad)
    text = app.copy_text(sanad, answer)
    lines = text.split("\n")
    assert lines[0] == "50 ألف دولار [1]"
    for c in answer.citations:
        shown = app.prose(sanad.source_text(c.source, answer.generation), c.start, c.end)
        assert f"{shown} [{c.n}]" in lines[1] and f"[{c.n}] {c.title}" in lines
    assert "المصادر:" in lines and "<" not in text
    control = app._copy_control(sanad, answer)
    assert "\n" not in control  # a blank line would end the HTML block in the chat's Markdown
    hidden = re.search(r"<pre class='copy-text'>(.*)</pre>", control).group(1)
    assert html.unescape(hidden) == text
    final = list(_respond(sanad)("كم بلغت رسوم حجز سيارة رودستر؟", [], []))[-1][1][-1]["content"]
    assert final.endswith("</pre></div>") and app.COPY in final


def test_a_refusal_copies_its_one_line(sanad):
    answer = sanad.ask("كم عدد موظفي شركة xAI؟")
    assert answer.refused and app.copy_text(sanad, answer) == answer.answer


def test_a_written_answer_copies_its_verified_sentences_with_their_citations(sanad):
    from rag.answer.compose import LLM, Statement

    answer = sanad.ask("كم بلغت رسوم حجز سيارة رودستر؟")
    written = replace(answer, composer=LLM, short_answer=None,
                      statements=(Statement("حجز ألتمان السيارة مقابل 50 ألف دولار.", (1,)),
                                  Statement("ثم طلب استرداد المبلغ.", (1,))))
    text = app.copy_text(sanad, written)
    assert text.startswith("حجز ألتمان السيارة مقابل 50 ألف دولار. [1]\nثم طلب استرداد المبلغ. [1]\n\nالمصادر:\n")


def test_an_uncertain_answer_says_so_first_and_in_its_copy(sanad):
    """An answer scored like those that were mostly wrong (rag/answer/decision.py
    is_uncertain) opens with the warning, above its short answer, while it
    streams too; an answer not marked has none."""
    answer = _with_short(sanad)
    assert app.UNCERTAIN not in app.render(sanad, answer, turn=1)
    doubtful = replace(answer, uncertain=True)
    warning = f"<div class='uncertain' dir='auto'>{app._text(app.UNCERTAIN)}</div>"
    for out in (app.render(sanad, doubtful, turn=1), app.render(sanad, doubtful, turn=1, upto=3)):
        assert out.startswith(warning + "<div class='short-answer'")
    assert app.copy_text(sanad, doubtful) == app.UNCERTAIN + "\n" + app.copy_text(sanad, answer)
    from rag.answer.compose import LLM, Statement

    written = replace(doubtful, composer=LLM, statements=(Statement("حجز ألتمان السيارة.", (1,)),))
    assert app.render(sanad, written, turn=1).startswith(warning + "<div class='answer written'")


def test_an_uncertain_answer_offers_other_passages_after_its_sources(sanad):
    answer = replace(_with_short(sanad), uncertain=True)
    other = sanad.ask("من هي المتحدثة باسم البيت الأبيض؟").citations[0]
    out = app.render(sanad, replace(answer, related=(replace(other, n=1),)), turn=4)
    body, rest = out.split("<div class='sources'>")
    assert app.RELATED_UNSURE in rest and app.RELATED_UNSURE not in body  # after the answer's own sources
    block = rest[rest.index("<div class='related'>"):]
    assert "id='rel-4-1'" in block and "<mark>" not in block  # reading: not highlighted as the answer
    assert app.RELATED_REFUSED not in out
    # a second offered sentence of the same paragraph, or one inside the answer's own source, is not shown again
    text = sanad.source_text(other.source)
    lo, hi = other.start + 5, other.start + 20  # a span in the same paragraph: its context overlaps
    neighbour = replace(other, n=2, start=lo, end=hi, text=text[lo:hi])
    inside = replace(answer.citations[0], n=3)
    out = app.render(sanad, replace(answer, related=(replace(other, n=1), neighbour, inside)), turn=4)
    assert out.count("class='source' id='rel-4-") == 1 and "id='rel-4-1'" in out
    assert app._related(sanad, replace(answer, related=(inside,)), 4, app.RELATED_UNSURE) == ""


def test_every_dark_mode_rule_has_one_selector():
    """Gradio scopes the page's CSS by removing ".dark" from a rule's selector once
    (prefix_css), so in ".dark .a, .dark .b" the second selector matched nothing: the
    LLM note and the "thinking" line stayed grey on dark, and an uncertain answer's
    warning dark amber on dark (contrast 1.9, tests/test_browser.py)."""
    rules = re.findall(r"([^{}]+)\{", re.sub(r"/\*.*?\*/", "", app.CSS, flags=re.S))
    dark = [r.strip() for r in rules if ".dark" in r]
    assert dark and all(r.count(".dark") == 1 and "," not in r for r in dark), dark
