"""End to end with the real embedded model on the real sources."""
import subprocess
import sys

import pytest

from rag import index as ix
from rag.config import Config
from rag.embedding import SentenceTransformerEmbedder
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
    report = ix.build(config, embedder)
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
