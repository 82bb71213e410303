import pytest

from rag.errors import SourceError
from rag.sources import parse_source, scan_sources

ARTICLE = "عاد التوتر مجددًا بين إيلون ماسك وسام ألتمان.\nوهذه المرة بسبب سيارة Tesla Roadster."


def test_markdown_front_matter_becomes_metadata(tmp_path):
    p = tmp_path / "a.md"
    data = f"---\ntitle: عنوان المقال\noutlet: جريدة\ndate: 2025-10-01\n---\n\n{ARTICLE}\n".encode()
    s = parse_source(p, data)
    assert s.title == "عنوان المقال"
    assert s.meta["outlet"] == "جريدة"
    assert s.text == ARTICLE  # body verbatim, front matter gone


def test_txt_without_metadata_takes_first_line_as_title(tmp_path):
    s = parse_source(tmp_path / "b.txt", ARTICLE.encode())
    assert s.title == "عاد التوتر مجددًا بين إيلون ماسك وسام ألتمان."
    assert s.id == "b"


def test_crlf_and_bom_are_normalized(tmp_path):
    s = parse_source(tmp_path / "c.txt", ("\ufeff" + ARTICLE.replace("\n", "\r\n")).encode())
    assert s.text == ARTICLE


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("مقال عربي".encode("cp1256"), "not UTF-8"),
    (b"---\ntitle: [unclosed\n---\nbody", "not valid YAML"),
    (b"---\ntitle: only metadata\n---\n", "no article text"),
])
def test_bad_files_raise_an_error_naming_the_file(tmp_path, data, reason):
    p = tmp_path / "bad.txt"
    with pytest.raises(SourceError) as e:
        parse_source(p, data)
    assert reason in e.value.reason
    assert str(p) in str(e.value)


def test_scan_keeps_good_sources_and_reports_bad_ones(tmp_path):
    (tmp_path / "good.md").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("مقال".encode("cp1256"))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "copy.txt").write_text(ARTICLE, encoding="utf-8")  # same bytes as good.md
    (tmp_path / "README.md").write_text("# not an article")
    scan = scan_sources(tmp_path)
    assert [s.id for s in scan.sources] == ["copy"]
    assert sorted(e.path.rsplit("/", 1)[1] for e in scan.errors) == ["empty.txt", "image.png", "latin1.txt"]
    assert scan.duplicates == ((str(tmp_path / "good.md"), str(tmp_path / "copy.txt")),)
