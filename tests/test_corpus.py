"""The committed sources/ are the five seed articles, cleaned of residue only."""
import importlib.util

import pytest

from rag.ingest.sources import scan_sources
from conftest import ROOT, SEED, SOURCES

spec = importlib.util.spec_from_file_location("importer", ROOT / "scripts" / "import_seed_articles.py")
importer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(importer)


def test_five_articles_with_titles():
    scan = scan_sources(SOURCES)
    assert not scan.errors and len(scan.sources) == 5
    for s in scan.sources:
        assert s.title and len(s.title) <= 120
        assert s.meta["original_file"] in importer.ARTICLES


def test_no_residue_left():
    for s in scan_sources(SOURCES).sources:
        assert "اقرأ أيضا" not in s.text
        assert "aXA6" not in s.text and "جزيرة ام اند امز" not in s.text
        assert not s.text.startswith("---")


@pytest.mark.skipif(not SEED.is_dir(), reason="shared/seed-articles not beside the repo")
def test_every_other_line_is_verbatim_from_the_seed():
    for s in scan_sources(SOURCES).sources:
        original = (SEED / s.meta["original_file"]).read_text(encoding="utf-8")
        kept = [line for line in original.split("\n") if not importer.is_residue(line)]
        # the body is a contiguous run of the original's non-residue lines
        assert s.text in "\n".join(kept)
        dropped = [line for line in original.split("\n") if importer.is_residue(line)]
        assert all(line.strip() for line in dropped)


@pytest.mark.skipif(not SEED.is_dir(), reason="shared/seed-articles not beside the repo")
def test_importer_reproduces_committed_sources(tmp_path):
    importer.main(SEED, tmp_path)
    for path in SOURCES.glob("*.md"):
        assert (tmp_path / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
