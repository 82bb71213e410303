"""Sanad's web page (a first version until the chat UI lands: one answer at
a time, with its numbered sources; follow-up questions use the history).

    python app.py        # serves on http://127.0.0.1:7860
"""
from __future__ import annotations

import html
import os
import sys

import gradio as gr

from rag import Config, SanadError
from rag.pipeline import MAX_QUESTION_CHARS, Sanad

CSS = """
body, .gradio-container { direction: rtl; font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Segoe UI",
  Tahoma, "Geeza Pro", "Arial", sans-serif; }
.passage { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; margin: 8px 0;
  unicode-bidi: plaintext; line-height: 1.8; }
.answer { font-size: 1.1em; line-height: 1.9; unicode-bidi: plaintext; }
.refusal { color: #555; background: #f4f4f4; border-radius: 8px; padding: 10px 14px; }
"""


def render(answer) -> str:
    """An answer with its numbered sources, or a refusal with related reading.
    Everything from questions and sources is escaped: shown, never run."""
    esc = html.escape
    if answer.refused:
        out = f"<div class='refusal' dir='rtl'>{esc(answer.answer)}</div>"
        if answer.related:
            out += "<h4 dir='rtl'>قد يهمك (مقاطع قريبة، وليست إجابة):</h4>" + "".join(
                f"<div class='passage' dir='auto'><b>{esc(c.title)}</b><br>{esc(c.text)}</div>"
                for c in answer.related)
        return out
    sources = "".join(
        f"<div class='passage' dir='auto'><b>[{c.n}] {esc(c.title)}</b><br>{esc(c.text)}</div>"
        for c in answer.citations)
    return f"<div class='answer' dir='auto'>{esc(answer.answer)}</div><h4 dir='rtl'>المصادر</h4>{sources}"


def build_ui(sanad: Sanad) -> gr.Blocks:
    def ask(question: str, history: list[str]):
        question = (question or "").strip()
        if not question:
            return gr.update(), history
        if len(question) > MAX_QUESTION_CHARS:
            return f"<p dir='rtl'>السؤال طويل جدًا؛ الحد الأقصى {MAX_QUESTION_CHARS} حرف.</p>", history
        try:
            answer = sanad.ask(question, history)
        except SanadError:
            return "<p dir='rtl'>تعذّرت الإجابة الآن. حاول مرة أخرى بعد قليل.</p>", history
        return render(answer), (history + [question])[-5:]

    with gr.Blocks(title="سند") as ui:
        gr.Markdown("# سند\nاسأل عن المقالات الإخبارية في المكتبة (ماسك وألتمان، OpenAI، xAI، ستارجيت…). "
                    "يجيب سند من المقالات فقط، ويذكر المقطع الذي استند إليه، ويقول ذلك صراحة "
                    "حين لا تتضمن المقالات الإجابة.", rtl=True)
        history = gr.State([])
        box = gr.Textbox(label="سؤالك", placeholder="مثال: كم بلغت رسوم حجز سيارة رودستر؟", rtl=True)
        out = gr.HTML()
        box.submit(ask, [box, history], [out, history])
        gr.Button("اسأل", variant="primary").click(ask, [box, history], [out, history])
        gr.Button("محادثة جديدة").click(lambda: ("", []), None, [out, history])
    return ui


def main() -> int:
    config = Config.load()
    sanad = Sanad(config)
    try:
        report = sanad.ensure_index(progress=lambda stage, done, total: print(
            f"\rBuilding the index: {stage} {done}/{total}", end="", file=sys.stderr, flush=True))
    except SanadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if report:
        print(f"\nIndexed {report.sources} sources, {report.chunks} chunks in {report.seconds:.1f} s", file=sys.stderr)
    sanad.warm_up()  # load the model now, not on the first question
    build_ui(sanad).queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False, css=CSS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
