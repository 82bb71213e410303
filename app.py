"""Sanad's chat page: Arabic, right to left, answers streamed with clickable
citations; each answer lists its sources with the quoted passage highlighted
in its surrounding text. A thin shell over rag.pipeline.Sanad.

    python app.py        # http://127.0.0.1:7860 (see README: configuration)
"""
from __future__ import annotations

import html
import logging
import sys
import time

import gradio as gr

from rag import Config, ReaderError, SanadError
from rag.answer.compose import LLM, UNCERTAIN, Answer, context_bounds
from rag.ingest.display import prose
from rag.pipeline import MAX_QUESTION_CHARS, Sanad
from rag.answer.question import clean
from rag.ingest.sources import source_date, source_url

log = logging.getLogger("sanad.app")

TITLE = "سند"
INTRO = ("اسأل بالعربية (أو بالإنجليزية) عن المقالات الإخبارية في المكتبة: الخلاف بين إيلون ماسك وسام ألتمان، "
         "OpenAI وxAI، مشروع ستارجيت، وسباق ماسك نحو التمويل. يجيب سند من المقالات وحدها، ويقتبس الجملة التي "
         "استند إليها مع رابط إلى مصدرها، ويقول بوضوح حين لا تتضمن المقالات الإجابة.")
EXAMPLES = [
    "كم بلغت رسوم حجز سيارة رودستر التي دفعها ألتمان؟",
    "بكم حاول ماسك شراء OpenAI؟",
    "وين كان ماسك لحظة توقيع اتفاق ستارجيت؟",
    # An English example shows that English questions work. It was "How much did Nvidia put into xAI's
    # funding round?", answered with the round's 20 billion, not Nvidia's two (a span-head limit, MODEL_CARD.md):
    # an example a user clicks must not show a wrong answer.
    "When did Musk sue OpenAI and Altman?",
]
# Workers serving questions at once. An answer is ~0.1-0.3 s of CPU with the reader
# (BENCHMARKS.md) and ~0.3 s of streaming pauses, so a few more workers than cores keep
# both cores busy (benchmarks/load_test.py; RELIABILITY.md has the figures).
CONCURRENCY = 6
THINKING = "<div class='thinking'>أبحث في المقالات…</div>"
TOO_LONG = "السؤال طويل جدًا ({n} حرفًا). الحد الأقصى {max} حرف؛ اختصره ثم أرسله من جديد."
FAILED = "عذرًا، حدث خطأ غير متوقع أثناء البحث. حاول مرة أخرى بعد قليل."
NO_READER = ("سند غير جاهز: ملفات القارئ المدرَّب (rag/models/reader) مفقودة أو تالفة أو لا تطابق النموذج. "
             "على المسؤول إعادة تثبيت المشروع أو تدريب القارئ بالأمر <code>rag train-reader</code>، "
             "أو تشغيله بالقواعد القديمة <code>SANAD_READER=rules</code>.")
LLM_SWITCH = "صياغة الإجابة بنموذج لغوي (تُعرض كل جملة بعد التحقق منها في المقطع الذي تستشهد به)"
COPY = "نسخ الإجابة ومصادرها"  # the copy button under each reply
RELATED_REFUSED = "قد يهمك (مقاطع قريبة من سؤالك، وليست إجابة عنه):"
RELATED_UNSURE = "مقاطع أخرى قد تجيب عن سؤالك:"  # under an answer marked uncertain
LLM_NOTE = "صاغ هذه الإجابة نموذج لغوي، وتحقق سند من أن كل جملة فيها واردة في المقطع الذي تستشهد به."
UNAVAILABLE = ("المكتبة غير جاهزة: تعذّر تجهيز فهرس المقالات ({reason}). على المسؤول تشغيل الأمر "
               "<code>rag index</code> ثم إعادة تشغيل الصفحة.")

CSS = """
.gradio-container, .gradio-container * { direction: rtl; }
.gradio-container { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Amiri", "Segoe UI", "Tahoma",
  "Geeza Pro", "Arial", sans-serif !important; max-width: 980px !important; margin: auto; }
#chat .message-content, .answer, .passage, .refusal { unicode-bidi: plaintext; line-height: 1.9; }
/* a long unbroken word (a pasted link or token) wraps instead of widening the page past a phone's screen */
#chat, #chat *, #question textarea, table.catalogue td { overflow-wrap: anywhere; }
.answer { font-size: 1.08em; }
a.cite { text-decoration: none; font-weight: bold; padding: 0 2px; color: #0b5cad; }
.sources, .related { margin-top: 10px; border-top: 1px solid #ddd; padding-top: 6px; font-size: 0.95em; }
.sources-title, .related-title { font-weight: bold; margin-bottom: 4px; }
.source { border-radius: 8px; padding: 6px 10px; margin: 6px 0; background: rgba(127,127,127,0.07); }
.source:target { outline: 2px solid #e0a800; background: rgba(255, 200, 0, 0.18); }
.source-title { font-weight: bold; }
.source-meta { color: #666; font-size: 0.9em; }
table.catalogue { width: 100%; border-collapse: collapse; }
table.catalogue td, table.catalogue th { border-bottom: 1px solid #ddd; padding: 4px 6px; text-align: start; }
.passage mark { background: #ffe58a; color: #1f1f1f; padding: 0 2px; border-radius: 3px; }
mark.short { background: #ffc94d; color: #1f1f1f; font-weight: bold; padding: 0 2px; border-radius: 3px; }
.answer mark.short { background: #ffe58a; }
.short-answer { font-size: 1.15em; margin-bottom: 4px; unicode-bidi: plaintext; }
.refusal { color: #555; background: rgba(127,127,127,0.12); border-inline-start: 4px solid #999;
  border-radius: 6px; padding: 8px 12px; }
.related .source { opacity: 0.85; }
.thinking { color: #777; font-style: italic; }
.example, .example * { unicode-bidi: plaintext; }
/* a question in the user's bubble in its own direction: English read left to right, its "?" at its end */
#chat [data-testid="user"] p { unicode-bidi: plaintext; }
.notice { color: #8a5a00; }
.uncertain { color: #7a4f00; background: rgba(255, 193, 7, 0.12); border-inline-start: 4px solid #e0a800;
  border-radius: 6px; padding: 6px 10px; margin-bottom: 6px; font-size: 0.95em; unicode-bidi: plaintext; }
.llm-note { color: #666; font-size: 0.85em; margin-top: 4px; }
footer { display: none !important; }
.copy-text { display: none; }
.copy-answer { margin-top: 8px; font-size: 0.85em; color: inherit; background: none; cursor: pointer;
  border: 1px solid rgba(127,127,127,0.4); border-radius: 6px; padding: 2px 10px; }
/* Gradio follows the system's dark mode (class "dark" on body): the greys and blue above would be dark on
   dark, so they get light counterparts; the yellow highlights keep their dark text in both modes. One selector
   per .dark rule: Gradio scopes custom CSS by taking ".dark" out of a rule's selector once, so in a list
   (".dark .a, .dark .b") every selector after the first kept its ".dark" inside the page and matched nothing */
.dark .refusal { color: #d6d6d6; }
.dark .source-meta { color: #b0b0b0; }
.dark .llm-note { color: #b0b0b0; }
.dark .thinking { color: #b0b0b0; }
.dark a.cite { color: #7ab8ff; }
.dark .notice { color: #f2c14e; }
.dark .uncertain { color: #f2c14e; }
.dark .sources { border-color: #444; }
.dark .related { border-color: #444; }
.dark table.catalogue td { border-color: #444; }
.dark table.catalogue th { border-color: #444; }
"""

# The page's own script, run once at load. First, Gradio sets <html lang> from the browser's language
# ("en" in an English browser), but the page is Arabic whatever the browser: screen readers choose
# their voice, and browsers their translation offer, by it. Kept "ar" if Gradio sets it again.
PAGE_JS = """() => {
  const html = document.documentElement, arabic = () => { if (html.lang !== "ar") html.lang = "ar"; };
  arabic();
  new MutationObserver(arabic).observe(html, {attributes: true, attributeFilter: ["lang"]});
  // a reply's copy button: its hidden plain text to the clipboard; the clipboard API needs a
  // secure context (https or localhost), so elsewhere the older execCommand route is taken
  document.addEventListener("click", async (event) => {
    const button = event.target.closest(".copy-answer");
    if (!button) return;
    const text = button.parentElement.querySelector(".copy-text").textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove();
    }
    button.textContent = "نُسخت ✓";
    setTimeout(() => { button.textContent = "COPY_LABEL"; }, 1500);
  });
}""".replace("COPY_LABEL", COPY)


def _text(s: str) -> str:
    """Escaped, line breaks kept: shown as text, never run as HTML."""
    return html.escape(s).replace("\n", "<br>")


def _marked(text: str, lo: int, hi: int, short) -> str:
    """``text[lo:hi]`` (``text`` a whole source) shown as prose and escaped,
    with the short answer's characters wrapped in ``<mark class='short'>``."""
    if short is None or short.end <= lo or short.start >= hi:
        return _text(prose(text, lo, hi))
    a, b = max(lo, short.start), min(hi, short.end)
    return (f"{_text(prose(text, lo, a))}<mark class='short'>{_text(prose(text, a, b))}</mark>"
            f"{_text(prose(text, b, hi))}")


def _about(source) -> str:
    """The article's date, author and outlet, and a link to the original
    (opened in a new tab) where its metadata has them; "" otherwise."""
    meta = source.meta
    parts = [_text(x) for x in (source_date(source), str(meta.get("author") or ""),
                                 str(meta.get("site") or meta.get("source") or "")) if x.strip()]
    url = source_url(source)
    if url:
        parts.append(f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer'>"
                     "المقال الأصلي ↗</a>")
    return f"<div class='source-meta' dir='auto'>{' · '.join(parts)}</div>" if parts else ""


def catalogue_html(sanad: Sanad) -> str:
    """The "المصادر" view: every indexed article with its date and size."""
    rows = []
    for source, chunks in sanad.catalogue():
        url = source_url(source)
        title = _text(source.title)
        if url:
            title = f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener noreferrer'>{title}</a>"
        rows.append(f"<tr><td dir='auto'>{title}</td><td>{_text(source_date(source)) or '—'}</td>"
                    f"<td dir='auto'>{_text(str(source.meta.get('site') or '')) or '—'}</td><td>{chunks}</td></tr>")
    return (f"<div id='catalogue'><p>يجيب سند من هذه المقالات وحدها ({len(rows)} مقالًا).</p>"
            "<table class='catalogue'><thead><tr><th>المقال</th><th>التاريخ</th><th>المصدر</th><th>المقاطع</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _source_block(sanad: Sanad, c, anchor: str, highlight: bool = True, short=None, generation: str = "") -> str:
    """A source with its passage in context, as prose (no Markdown markup):
    the quote highlighted and, inside it, the short answer highlighted again;
    under its title, the article's date, author, outlet and original link."""
    text = sanad.source_text(c.source, generation)  # the text the citation was cut from
    lo, hi, cut_before, cut_after = context_bounds(text, c.start, c.end)
    cited = _marked(text, c.start, c.end, short)
    quoted = f"<mark>{cited}</mark>" if highlight else cited
    before = ("… " if cut_before else "") + _text(prose(text, lo, c.start))
    after = _text(prose(text, c.end, hi)) + (" …" if cut_after else "")
    return (f"<div class='source' id='{anchor}'><div class='source-title' dir='auto'>[{c.n}] {_text(c.title)}</div>"
            f"{_about(sanad.source(c.source, generation))}"
            f"<div class='passage' dir='auto'>{before}{quoted}{after}</div></div>")


def _short_for(answer: Answer, c):
    s = answer.short_answer
    return s if s is not None and s.n == c.n else None


def _short_shown(sanad: Sanad, answer: Answer) -> str:
    """The short answer as the page shows it: its span of the source, as prose."""
    s = answer.short_answer
    return prose(sanad.source_text(answer.citations[s.n - 1].source, answer.generation), s.start, s.end)


def render(sanad: Sanad, answer: Answer, turn: int, upto: int | None = None) -> str:
    """The HTML of one reply: the short answer in bold first (when there is
    one), then the quoted sentences with the short answer highlighted inside
    its quote, then the sources. ``upto`` words of the quotes, for streaming;
    the sources appear with the full text. Passages are shown as prose
    (rag/ingest/display.py: no Markdown markup); every piece of text is escaped."""
    if answer.refused:
        return f"<div class='refusal'>{_text(answer.answer)}</div>" + _related(sanad, answer, turn, RELATED_REFUSED)
    # an answer scored like those that were mostly wrong says so first (rag/answer/decision.py is_uncertain)
    warning = f"<div class='uncertain' dir='auto'>{_text(UNCERTAIN)}</div>" if answer.uncertain else ""
    if answer.composer == LLM:
        return warning + _render_written(sanad, answer, turn) + _related(sanad, answer, turn, RELATED_UNSURE)
    head = warning
    if answer.short_answer is not None:
        s = answer.short_answer
        head += (f"<div class='short-answer' dir='auto'><strong>{_text(_short_shown(sanad, answer))}</strong> "
                 f"<a class='cite' href='#src-{turn}-{s.n}'>[{s.n}]</a></div>")
    parts = []
    for c in answer.citations:
        text = sanad.source_text(c.source, answer.generation)
        words = prose(text, c.start, c.end).split(" ")
        if upto is not None:
            shown, upto = words[:upto], max(0, upto - len(words))
            if not shown:
                break
            if len(shown) < len(words):
                parts.append(_text(" ".join(shown)))
                break
        parts.append(f"<span class='quote'>{_marked(text, c.start, c.end, _short_for(answer, c))}</span> "
                     f"<a class='cite' href='#src-{turn}-{c.n}' title='{html.escape(c.title)}'>[{c.n}]</a>")
    body = head + f"<div class='answer' dir='auto'>{' '.join(parts)}</div>"
    if upto is not None:
        return body
    sources = "".join(_source_block(sanad, c, f"src-{turn}-{c.n}", short=_short_for(answer, c),
                                    generation=answer.generation)
                      for c in answer.citations)
    return (body + f"<div class='sources'><div class='sources-title'>المصادر</div>{sources}</div>"
            + _related(sanad, answer, turn, RELATED_UNSURE))


def _related(sanad: Sanad, answer: Answer, turn: int, title: str) -> str:
    """The passages offered to read beside a refusal or an uncertain answer,
    unhighlighted: reading, not the answer. Each is shown in its context, so one
    whose context overlaps a passage already on the reply (an answer's source, or
    another offered sentence of the same paragraph) is left out: the same lines
    twice, unhighlighted, read as a fault."""
    def shown(c) -> tuple[str, int, int]:
        lo, hi, _, _ = context_bounds(sanad.source_text(c.source, answer.generation), c.start, c.end)
        return c.source, lo, hi

    seen = [shown(c) for c in answer.citations]
    blocks = []
    for c in answer.related:
        source, lo, hi = shown(c)
        if any(s == source and lo < b and a < hi for s, a, b in seen):
            continue
        seen.append((source, lo, hi))
        blocks.append(_source_block(sanad, c, f"rel-{turn}-{c.n}", highlight=False, generation=answer.generation))
    if not blocks:
        return ""
    return f"<div class='related'><div class='related-title'>{title}</div>{''.join(blocks)}</div>"


def _render_written(sanad: Sanad, answer: Answer, turn: int) -> str:
    """An answer an LLM wrote: its verified sentences, each with links to
    the passages that support it, then those passages in context."""
    sentences = " ".join(
        f"<span class='statement'>{_text(s.text)}</span> "
        + " ".join(f"<a class='cite' href='#src-{turn}-{n}'>[{n}]</a>" for n in s.citations)
        for s in answer.statements)
    sources = "".join(_source_block(sanad, c, f"src-{turn}-{c.n}", generation=answer.generation)
                      for c in answer.citations)
    return (f"<div class='answer written' dir='auto'>{sentences}</div><div class='llm-note'>{LLM_NOTE}</div>"
            f"<div class='sources'><div class='sources-title'>المصادر</div>{sources}</div>")


def copy_text(sanad: Sanad, answer: Answer) -> str:
    """What the copy button of a reply copies: the answer as shown (short answer,
    then each quote as prose with its [n]), then the sources by title and link.
    Plain text, for pasting into a document (Gradio's own copy button gave the
    reply's HTML)."""
    if answer.refused:
        return answer.answer
    lines = [UNCERTAIN] if answer.uncertain else []
    if answer.composer == LLM:
        lines += [" ".join([s.text] + [f"[{n}]" for n in s.citations]) for s in answer.statements]
    else:
        if answer.short_answer is not None:
            lines.append(f"{_short_shown(sanad, answer)} [{answer.short_answer.n}]")
        lines.append(" ".join(f"{prose(sanad.source_text(c.source, answer.generation), c.start, c.end)} [{c.n}]"
                              for c in answer.citations))
    sources = []
    for c in answer.citations:
        url = source_url(sanad.source(c.source, answer.generation))
        sources.append(f"[{c.n}] {c.title}" + (f" — {url}" if url else ""))
    return "\n".join(lines) + ("\n\nالمصادر:\n" + "\n".join(sources) if sources else "")


def _copy_control(sanad: Sanad, answer: Answer) -> str:
    # the page's script (PAGE_JS) copies the hidden text when the button is clicked. Its line breaks
    # go as character references: the chat renders Markdown, where a blank line would end the HTML
    text = html.escape(copy_text(sanad, answer)).replace("\n", "&#10;")
    return (f"<div class='copy-row'><button type='button' class='copy-answer'>{COPY}</button>"
            f"<pre class='copy-text'>{text}</pre></div>")


def _reply(messages: list, content: str) -> list:
    """The conversation with its last (assistant) message replaced; a new list
    each time, so every streamed update is a value of its own."""
    return messages[:-1] + [{"role": "assistant", "content": content}]


def build_ui(sanad: Sanad, unavailable: str | None = None) -> gr.Blocks:
    def respond(question: str, messages: list, history: list, llm: bool = False):
        question = clean(question or "")  # no control or bidi-override characters, even on display
        if not question:  # empty input does nothing
            yield gr.update(), messages, history
            return
        if len(question) > MAX_QUESTION_CHARS:  # keep the text in the box so nothing is lost
            notice = TOO_LONG.format(n=len(question), max=MAX_QUESTION_CHARS)
            yield gr.update(), messages + [{"role": "assistant", "content": f"<div class='notice'>{notice}</div>"}], \
                history
            return
        turn = sum(m["role"] == "assistant" for m in messages) + 1
        messages = messages + [{"role": "user", "content": _text(question)},
                               {"role": "assistant", "content": THINKING}]
        yield "", messages, history
        try:
            if llm and sanad.llm_enabled:  # verified sentences appear as the LLM writes them
                answer = None
                for answer in sanad.stream(question, history, llm=True):
                    if not answer.refused and answer.composer == LLM:
                        yield "", _reply(messages, render(sanad, answer, turn)), history
            else:
                answer = sanad.ask(question, history)
        except Exception:  # noqa: BLE001 - the user sees a friendly line; the log has the details
            log.exception("answering %r failed", question[:200])
            yield "", _reply(messages, f"<div class='refusal'>{FAILED}</div>"), history
            return
        assert answer is not None
        if not answer.refused and answer.composer != LLM:
            words = sum(len(c.text.split(" ")) for c in answer.citations)
            for upto in range(4, words, 4):  # stream the quoted sentences, a few words at a time
                yield "", _reply(messages, render(sanad, answer, turn, upto)), history
                time.sleep(0.02)
        yield "", _reply(messages, render(sanad, answer, turn) + _copy_control(sanad, answer)), \
            (history + [question])[-6:]

    with gr.Blocks(title=TITLE, analytics_enabled=False) as ui:
        gr.Markdown(f"# {TITLE}\n{INTRO}", rtl=True, elem_id="intro")
        if unavailable:
            gr.HTML(f"<div class='refusal' id='unavailable'>{unavailable}</div>")
        chat = gr.Chatbot(elem_id="chat", rtl=True, height=520, show_label=False, buttons=[],
                          placeholder="<div dir='rtl'>اكتب سؤالك في الأسفل، أو اختر أحد الأمثلة.</div>")
        history = gr.State([])
        llm_on = gr.State(False)  # per session; not a parameter of the /ask API
        with gr.Row():
            box = gr.Textbox(elem_id="question", show_label=False, rtl=True, scale=8, autofocus=True,
                             placeholder="اكتب سؤالك هنا… مثال: متى أعلن عن الجيل الثاني من رودستر؟",
                             interactive=not unavailable)
            send = gr.Button("إرسال", variant="primary", elem_id="send", scale=1, interactive=not unavailable)
        with gr.Row():
            examples = [gr.Button(q, size="sm", elem_classes=["example"], interactive=not unavailable)
                        for q in EXAMPLES]
            clear = gr.Button("محادثة جديدة", elem_id="clear", size="sm", variant="secondary")
        if sanad.llm_enabled and not unavailable:  # only when an endpoint is configured
            switch = gr.Checkbox(False, label=LLM_SWITCH, elem_id="llm-switch")
            switch.change(lambda on: bool(on), switch, llm_on, queue=False, api_name=False)
        gr.Markdown("كل إجابة اقتباس حرفي من المقالات" + ("، أو جمل صاغها نموذج لغوي وتحقق سند منها" if
                    sanad.llm_enabled else "") + "؛ انقر رقم المصدر [1] لترى المقطع في سياقه.", rtl=True)
        if not unavailable:
            with gr.Accordion("المصادر: المقالات التي يجيب منها سند", open=False, elem_id="sources-view"):
                catalogue = gr.HTML(catalogue_html(sanad))
            # a page opened after `rag index` lists the new articles (the app reloads the index itself)
            ui.load(lambda: catalogue_html(sanad), None, catalogue, queue=False, api_name=False)

        # One public API endpoint, "/ask" (used by gradio_client and the load test).
        box.submit(respond, [box, chat, history, llm_on], [box, chat, history], api_name="ask")
        send.click(respond, [box, chat, history, llm_on], [box, chat, history], api_name=False)
        for b, q in zip(examples, EXAMPLES):
            b.click(lambda m, h, on, q=q: (yield from respond(q, m, h, on)), [chat, history, llm_on],
                    [box, chat, history], api_name=False)
        clear.click(lambda: ("", [], []), None, [box, chat, history], queue=False, api_name=False)
    return ui


def prepare(sanad: Sanad) -> str | None:
    """Build the index if needed and load the models; ``None`` when ready,
    else the Arabic notice the page shows instead of a chat box."""
    try:
        report = sanad.ensure_index(progress=lambda stage, done, total: print(
            f"\rBuilding the index: {stage} {done}/{total}", end="", file=sys.stderr, flush=True))
        if report:
            print(f"\nIndexed {report.sources} sources, {report.chunks} chunks in {report.seconds:.1f} s",
                  file=sys.stderr)
        sanad.warm_up()  # load the models now, not on the first question
    except ReaderError as e:
        log.error("the reader is not usable: %s", e)
        return NO_READER
    except SanadError as e:
        log.error("the index is not usable: %s", e)
        return UNAVAILABLE.format(reason=html.escape(type(e).__name__))
    return None


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = Config.load()
    except SanadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sanad = Sanad(config)
    unavailable = prepare(sanad)
    if not unavailable and config.reload_seconds:
        sanad.watch(config.reload_seconds)  # answer from a new `rag index` without a restart
    auth = tuple(config.auth.split(":", 1)) if config.auth else None
    ui = build_ui(sanad, unavailable)
    ui.queue(default_concurrency_limit=CONCURRENCY, max_size=256).launch(
        server_name=config.host, server_port=config.port, share=config.share, auth=auth,
        css=CSS, js=PAGE_JS, show_error=False, footer_links=[], prevent_thread_lock=True,
    )
    if not unavailable:  # once the page is up: English questions' words, read while it waits for them
        sanad.warm_english(wait=False)
    ui.block_thread()  # what launch() does last without prevent_thread_lock
    return 0


if __name__ == "__main__":
    sys.exit(main())
