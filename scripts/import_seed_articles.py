"""Turn the five articles as received (../shared/seed-articles) into sources/.

Run once by a maintainer; the result is committed. What it does, and only this:
- a YAML front matter block (article 001) becomes the source's metadata;
- a headline on the first line (000, 004) becomes the title; 002 and 003 have
  none, so an editor-written title is given below (marked title_derived);
- "اقرأ أيضا: ..." teaser lines (links to other articles) are dropped;
- the tracking token line at the end of 004 ("aXA6...": base64 of a client
  IP address, then a site footer) is dropped.
Everything else is kept verbatim (tests/test_corpus.py checks that).

    python scripts/import_seed_articles.py [SEED_DIR] [SOURCES_DIR]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# original file -> (readable name, derived title or None if it has a headline)
ARTICLES = {
    "000_b07ff12f04879de4.txt": ("musk-altman-roadster-dispute", None),
    "001_4ac80b11e31a30f7.txt": ("musk-altman-feud-overview", None),
    "002_3e64c444453a98ef.txt": ("musk-stargate-uae", "ماسك يحاول عرقلة مشروع ستارجيت للذكاء الاصطناعي في الإمارات"),
    "003_8af5831bf0bad0c9.txt": ("altman-musk-2016-video", "مقطع من عام 2016: ألتمان يسأل ماسك كيف يصبح مثله"),
    "004_f3bec3f39ffb1b52.txt": ("musk-empire-ai-capital-race", None),
}
TEASER = re.compile(r"^\s*اقرأ\s+أيض(?:ا|اً|ًا)\s*:")
TRACKING = re.compile(r"^[A-Za-z0-9+/]{16,}={0,2}\s")
FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def is_residue(line: str) -> bool:
    return bool(TEASER.match(line) or TRACKING.match(line))


def convert(original: str, derived_title: str | None, name: str) -> str:
    meta: dict = {}
    m = FRONT.match(original)
    if m:
        meta = yaml.safe_load(m.group(1))
        original = original[m.end():]
    body = original.strip("\n ")
    if derived_title:
        meta["title"], meta["title_derived"] = derived_title, True
    elif "title" not in meta:
        headline, body = body.split("\n", 1)
        meta["title"] = headline.strip()
    body = "\n".join(line for line in body.split("\n") if not is_residue(line)).strip()
    meta["original_file"] = name
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    return f"---\n{front}---\n\n{body}\n"


def main(seed: Path, out: Path) -> None:
    out.mkdir(exist_ok=True)
    for name, (slug, title) in ARTICLES.items():
        text = (seed / name).read_text(encoding="utf-8")
        (out / f"{slug}.md").write_text(convert(text, title, name), encoding="utf-8")
        print(f"{name} -> {out.name}/{slug}.md")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]]
    main(args[0] if args else ROOT.parent / "shared" / "seed-articles",
         args[1] if len(args) > 1 else ROOT / "sources")
