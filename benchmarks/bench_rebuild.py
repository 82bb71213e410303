"""A rebuild with nothing changed, over saved web pages: how long it takes
when every page is extracted again (trafilatura) and when the previous
build's extraction is reused (rag/index/build.py ``_Previous.known``).

    python benchmarks/bench_rebuild.py [--pages 500]

The pages are copies of tests/fixtures/formats/xai-funding.html (an Arabic
news page with navigation, teasers, scripts and comments) with their article
paragraphs shuffled and numbered, so every page is its own article. The
stand-in embedder of bench_archive.py gives the vectors: only scanning and
extraction differ between the two rebuilds.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_archive import StandIn  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.index import build as bx  # noqa: E402


def pages(folder: Path, n: int) -> None:
    html = (ROOT / "tests" / "fixtures" / "formats" / "xai-funding.html").read_text(encoding="utf-8")
    paras = re.findall(r"<p>.*?</p>", html, flags=re.S)
    rng = random.Random(13)
    for i in range(n):
        body = paras[:]
        rng.shuffle(body)
        page = html
        for old, new in zip(paras, body):
            page = page.replace(old, new.replace("<p>", f"<p>({i}) ", 1), 1)
        (folder / f"page-{i:05d}.html").write_text(page, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sources"
        folder.mkdir()
        pages(folder, args.pages)
        config = Config.load(env={}, sources_dir=folder, index_dir=Path(tmp) / "index", model=StandIn.model_id)
        t = time.perf_counter()
        bx.build(config, StandIn())
        print(f"first build ({args.pages} pages): {time.perf_counter() - t:.1f} s")
        time.sleep(2.5)  # past the racy-clean window, as a later rebuild would be
        t = time.perf_counter()
        bx.build(config, StandIn())
        reuse = time.perf_counter() - t
        known = bx._Previous.known
        bx._Previous.known = lambda self, files: (lambda path: None)  # type: ignore[method-assign]
        t = time.perf_counter()
        bx.build(config, StandIn())
        again = time.perf_counter() - t
        bx._Previous.known = known  # type: ignore[method-assign]
        print(f"rebuild, nothing changed: {reuse:.2f} s reusing the extraction, {again:.2f} s extracting again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
