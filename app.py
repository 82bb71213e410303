"""Sanad's web page (placeholder until the chat UI lands: it shows the
passages that best match a question, with their article titles).

    python app.py        # serves on http://127.0.0.1:7860
"""
from __future__ import annotations

import html
import os
import sys

import gradio as gr

from rag import Config, SanadError
from rag.pipeline import Sanad

CSS = """
body, .gradio-container { direction: rtl; font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "Segoe UI",
  Tahoma, "Geeza Pro", "Arial", sans-serif; }
.passage { border: 1px solid #ddd; border-radius: 8px; padding: 10px 14px; margin: 8px 0;
  unicode-bidi: plaintext; line-height: 1.8; }
.passage h4 { margin: 0 0 6px; }
"""
MAX_QUESTION_CHARS = 2000


def render(hits) -> str:
    if not hits:
        return "<p dir='rtl'>لم أجد مقاطع قريبة من سؤالك.</p>"
    return "".join(
        f"<div class='passage' dir='auto'><h4 dir='auto'>[{n}] {html.escape(h.title)}</h4>"
        f"<div dir='auto'>{html.escape(h.chunk.text)}</div></div>"
        for n, h in enumerate(hits, 1)
    )


def build_ui(sanad: Sanad) -> gr.Blocks:
    def ask(question: str) -> str:
        question = (question or "").strip()
        if not question:
            return ""
        if len(question) > MAX_QUESTION_CHARS:
            return f"<p dir='rtl'>السؤال طويل جدًا؛ الحد الأقصى {MAX_QUESTION_CHARS} حرف.</p>"
        try:
            return render(sanad.search(question, k=3))
        except SanadError:
            return "<p dir='rtl'>تعذّر البحث الآن. حاول مرة أخرى بعد قليل.</p>"

    with gr.Blocks(title="سند") as ui:
        gr.Markdown("# سند\nاسأل عن المقالات الإخبارية في المكتبة (ماسك وألتمان، OpenAI، xAI، ستارجيت…). "
                    "تعرض هذه النسخة الأولية المقاطع الأقرب إلى سؤالك من المقالات.", rtl=True)
        box = gr.Textbox(label="سؤالك", placeholder="مثال: كم بلغت رسوم حجز سيارة رودستر؟", rtl=True)
        out = gr.HTML()
        box.submit(ask, box, out)
        gr.Button("ابحث", variant="primary").click(ask, box, out)
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
    sanad.embedder.embed_query("تهيئة")  # load the model now, not on the first question
    build_ui(sanad).queue(default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False, css=CSS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
