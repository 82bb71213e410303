"""Articles as newsrooms keep them: saved pages, JSONL exports, PDFs
(rag/ingest/formats.py, rag/ingest/sources.py), on real-shaped fixtures."""
import json
import shutil
from pathlib import Path

import pytest

from rag.ingest import formats
from rag.index import index as ix
from rag.index import build as bx
from rag.config import Config
from rag.ingest.sources import scan_sources
from conftest import ROOT, FakeEmbedder

PAGE = ROOT / "tests" / "fixtures" / "formats" / "xai-funding.html"
PARAGRAPHS = [
    "أعلنت شركة xAI، التي أسسها إيلون ماسك، أنها جمعت 20 مليار دولار في جولة تمويل جديدة",
    "حيث يعمل حاسوبها الفائق «كولوسس».",
    "ولم تكشف xAI عن تقييمها بعد الجولة",
]
BOILERPLATE = ["الرئيسية", "مقالات الرأي", "ستارغيت: مشروع", "أسعار النفط", "أبو خالد", "متى سيصل غروك",
               "ملفات تعريف الارتباط", "شارك على فيسبوك", "dataLayer", "جميع الحقوق", "اشترك في النشرة"]


def test_a_news_page_gives_its_article_and_metadata_without_boilerplate():
    got = formats.html(PAGE.read_bytes())
    assert formats.html(PAGE.read_bytes()) == got  # the same every time (no cache across calls)
    for p in PARAGRAPHS:
        assert p in got.text
    for junk in BOILERPLATE:
        assert junk not in got.text, junk
    assert got.meta["title"] == "إنفيديا تضخ ملياري دولار في جولة تمويل xAI"
    assert got.meta["date"] == "2025-10-08" and got.meta["author"] == "سارة المنصوري"
    assert got.meta["url"] == "https://alofuq.example/tech/2025/10/08/nvidia-xai-funding"
    assert got.meta["site"] == "الأفق الرقمي"


@pytest.mark.parametrize("page", [
    b"<html><body><form><input name=user><input type=password><button>\xd8\xaf\xd8\xae\xd9\x88\xd9\x84"
    b"</button></form></body></html>",  # a login page
    b"<html><body><ul>" + b"".join(b"<li><a href='/a%d'>link %d</a></li>" % (i, i) for i in range(30))
    + b"</ul></body></html>",  # an index page
    b"\x00\x01<<<>>>",
])
def test_a_page_that_is_not_an_article_is_a_clear_error(page):
    with pytest.raises(formats.FormatError, match="no article text|cannot be parsed"):
        formats.html(page)


def test_a_truncated_page_keeps_what_it_has():
    data = PAGE.read_bytes()
    got = formats.html(data[: data.index("ويرى محللون".encode())])
    assert PARAGRAPHS[0] in got.text


def _font() -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")  # has Arabic glyphs


def make_pdf(path: Path, pages: list[list[str]], title: str = "") -> Path:
    """A text PDF with an embedded font; fpdf2 stores Arabic in visual order."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("dejavu", fname=_font())
    pdf.set_font("dejavu", size=12)
    if title:
        pdf.set_title(title)
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


PDF_PAGES = [["أعلنت شركة xAI أنها جمعت 20 مليار دولار في جولة تمويل جديدة.",
              "وضخت إنفيديا نحو ملياري دولار في الجولة (بحسب الشركة)."],
             ["الصفحة الثانية: مركز بيانات كولوسس في ممفيس."]]


def test_a_text_pdf_reads_in_reading_order(tmp_path):
    got = formats.pdf(make_pdf(tmp_path / "a.pdf", PDF_PAGES, title="تمويل xAI").read_bytes())
    for line in sum(PDF_PAGES, []):
        assert line in got.text
    assert got.text.index("ملياري") < got.text.index("الصفحة الثانية")
    assert got.meta["pages"] == 2 and got.meta["title"] == "تمويل xAI"


@pytest.mark.parametrize("line", ["ذهب الوفد إلى الرياض يوم الأحد.", "عاد المدير من لندن في 2024 (بعد غياب)."])
def test_visual_order_is_recognized_and_undone(line):
    shown = line[::-1]  # as a writer storing whole lines reversed
    assert formats.visual_order(shown) and not formats.visual_order(line)
    if not any(c.isascii() and c.isalnum() for c in line):  # Latin runs: see logical_line's docstring
        assert formats.logical_line(shown) == line


def test_pdfs_without_text_encrypted_or_damaged_are_clear_errors(tmp_path):
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    scan = FPDF()
    scan.add_page()
    scan.set_fill_color(120, 120, 120)
    scan.rect(10, 10, 100, 60, style="F")  # an image-only page stands for a scan
    with pytest.raises(formats.FormatError, match="no text layer"):
        formats.pdf(bytes(scan.output()))
    text = make_pdf(tmp_path / "t.pdf", PDF_PAGES)
    writer = PdfWriter()
    writer.append(PdfReader(text))
    writer.encrypt("secret")
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(formats.FormatError, match="encrypted"):
        formats.pdf((tmp_path / "locked.pdf").read_bytes())
    with pytest.raises(formats.FormatError, match="damaged|no text"):
        formats.pdf(text.read_bytes()[:300])


EXPORT = [
    {"id": "n-1", "title": "ستارغيت الإمارات", "date": "2025-05-22", "url": "https://cms.example/1",
     "section": "تقنية", "text": "أعلنت أوبن إيه آي عن مشروع ستارغيت في الإمارات بقدرة خمسة غيغاواط.\nويضم المشروع مركز بيانات ضخماً."},
    {"id": "n-2", "text": "قال ماسك إن شركة xAI ستبني أكبر حاسوب فائق في العالم في مدينة ممفيس."},
    {"title": "بلا معرّف", "text": "خبر بلا معرّف عن تمويل إنفيديا لجولة xAI بملياري دولار."},
]


def write_export(path: Path) -> Path:
    lines = [json.dumps(EXPORT[0], ensure_ascii=False), "{not json", json.dumps({"id": "n-9", "title": "x"}),
             "", json.dumps(EXPORT[1], ensure_ascii=False), json.dumps({"id": "n-1", "text": "مكرر"}, ensure_ascii=False),
             json.dumps(EXPORT[2], ensure_ascii=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_jsonl_export_indexes_its_good_lines_and_names_the_bad_ones(tmp_path):
    write_export(tmp_path / "cms.jsonl")
    scan = scan_sources(tmp_path)
    by_id = {s.id: s for s in scan.sources}
    assert set(by_id) == {"cms-n-1", "cms-n-2", "cms-7"}
    assert by_id["cms-n-1"].title == "ستارغيت الإمارات" and by_id["cms-n-1"].meta["section"] == "تقنية"
    assert by_id["cms-n-1"].meta["url"] == "https://cms.example/1" and by_id["cms-n-1"].text == EXPORT[0]["text"]
    messages = [str(e) for e in scan.errors]
    assert any("line 2 is not JSON" in m for m in messages) and any("line 3 has no 'text'" in m for m in messages)
    assert any("line 6" in m and "n-1" in m for m in messages)
    assert all(m.startswith(str(tmp_path / "cms.jsonl")) for m in messages)


def test_every_format_indexes_with_verbatim_offsets_and_a_rerun_embeds_nothing(tmp_path):
    src = tmp_path / "sources"
    src.mkdir()
    shutil.copy(PAGE, src / "xai-funding.html")
    write_export(src / "cms.jsonl")
    make_pdf(src / "report.pdf", PDF_PAGES)
    (src / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
    (src / "huge.txt").write_bytes(b"a" * (11 * 1024 * 1024))
    config = Config.load(env={}, sources_dir=src, index_dir=tmp_path / "index", model=FakeEmbedder.model_id,
                         cache_dir=tmp_path / "cache")
    fake = FakeEmbedder()
    report = bx.build(config, fake)
    loaded = ix.load(config)
    assert set(loaded.sources) == {"xai-funding", "cms-n-1", "cms-n-2", "cms-7", "report"}
    for c in loaded.chunks + loaded.sentences:
        assert loaded.sources[c.source_id].text[c.start:c.end] == c.text
    assert loaded.sources["xai-funding"].meta["site"] == "الأفق الرقمي"
    assert {Path(e.path).stem for e in report.skipped} == {"scan", "huge", "cms"}  # cms: its bad lines
    fake.embedded.clear()
    again = bx.build(config, fake)
    assert fake.embedded == [] and not again.embedded
