import pytest

from rag.errors import SourceError
from rag.ingest.sources import parse_source, scan_sources

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


def test_file_record_hashes_only_files_whose_size_or_mtime_changed(tmp_path):
    import os
    import time

    from rag.ingest.sources import RACY_NS, file_record

    old, new = tmp_path / "old.md", tmp_path / "new.md"
    old.write_text("مقال قديم عن الطاقة.", encoding="utf-8")
    new.write_text("مقال جديد عن الطاقة.", encoding="utf-8")
    past = time.time_ns() - 10 * RACY_NS
    os.utime(old, ns=(past, past))
    first = file_record(tmp_path)
    assert set(first["files"]) == {"old.md", "new.md"} and first["file_stats"]["old.md"][1] == past

    # same size and mtime, long before the last check: trusted without reading (as git does)
    old.write_text("مقال قديم عن الطاقه.", encoding="utf-8")
    os.utime(old, ns=(past, past))
    assert file_record(tmp_path, first)["files"]["old.md"] == first["files"]["old.md"]
    # modified close to the last check ("racy"): hashed again, so a same-size edit is seen
    stamp = first["file_stats"]["new.md"][1]
    new.write_text("مقال جديد عن الطاقه.", encoding="utf-8")
    os.utime(new, ns=(stamp, stamp))
    assert file_record(tmp_path, first)["files"]["new.md"] != first["files"]["new.md"]
    # another size: hashed again; without a previous record: everything hashed
    old.write_text("مقال قديم عن الطاقة، وتحديث.", encoding="utf-8")
    os.utime(old, ns=(past, past))
    again = file_record(tmp_path, first)
    assert again["files"]["old.md"] != first["files"]["old.md"]
    assert again["files"]["old.md"] == file_record(tmp_path)["files"]["old.md"]
