"""Article formats: the text and metadata of saved web pages, PDFs and JSONL
exports, as newsrooms keep them (issue 11).

Each reader takes a file's bytes and returns ``Extracted`` (the article's
text and its metadata) or raises ``FormatError`` with a plain reason; the
caller (rag/ingest/sources.py) turns that into a warning naming the file. Nothing
here knows about Sources or the index.

* HTML: ``trafilatura`` finds the article's main text and its metadata
  (title, date via ``htmldate``, author, canonical URL, site name); menus,
  "اقرأ أيضا" teasers, share buttons, cookie banners and comments are left out.
* PDF: ``pypdf``, page by page. Arabic lines that come out in visual order
  (letters reversed, as many PDF writers store them) are put back in reading
  order (``logical_line``).
* JSONL: one article per line, ``text`` required; ``jsonl_records`` yields
  each line's record or the reason it is unusable.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Iterator, Mapping

# Bump when extraction changes: a file's fingerprint includes it, so sources
# extracted by an older version are re-read (their offsets would not match).
EXTRACTOR_VERSION = 1
MAX_HTML_BYTES = 10 * 1024 * 1024  # a saved article page is well under 1 MB
MAX_PDF_BYTES = 30 * 1024 * 1024
MAX_LINE_BYTES = 5 * 1024 * 1024  # one JSONL article
MIN_ARTICLE_CHARS = 80  # less than this is not an article (a login or index page)


class FormatError(Exception):
    """A file (or a JSONL line) that cannot be read as an article; the
    message says why, in plain English."""


@dataclass(frozen=True)
class Extracted:
    text: str
    meta: Mapping[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # something the reader should know (a page with no text)


# ---------------------------------------------------------------- HTML
def html(data: bytes) -> Extracted:
    """The main text and metadata of a saved article page."""
    if len(data) > MAX_HTML_BYTES:
        raise FormatError(f"the page is {len(data) // (1024 * 1024)} MB, more than an article page "
                          f"({MAX_HTML_BYTES // (1024 * 1024)} MB at most)")
    import trafilatura

    try:
        out = trafilatura.extract(data, output_format="json", with_metadata=True, include_comments=False,
                                  include_tables=True, favor_precision=True)
    except Exception as e:  # noqa: BLE001 - lxml and trafilatura raise many kinds on broken markup
        raise FormatError(f"the page cannot be parsed ({type(e).__name__})") from None
    doc = json.loads(out) if out else {}
    text = _tidy(str(doc.get("text") or ""))
    if len(text) < MIN_ARTICLE_CHARS:
        raise FormatError("no article text found in the page (a login, index or empty page?)")
    meta = {"title": doc.get("title"), "date": doc.get("date"), "author": doc.get("author"),
            "url": doc.get("source"), "site": doc.get("source-hostname") or doc.get("hostname"),
            "format": "html"}
    return Extracted(text, {k: v for k, v in meta.items() if v})


# ---------------------------------------------------------------- PDF
_ARABIC = "\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF"
_ARABIC_WORD = re.compile(f"[{_ARABIC}]+")
# A right-to-left run as a visual-order line holds it: Arabic letters with the
# spaces and punctuation between them; the sentence's closing punctuation, which
# comes last in reading order, stands at its visual start.
_RTL_RUN = re.compile(f"(?:[.,:;!?\u060C\u061B\u061F()«»\"']+\\s*)?[{_ARABIC}]"
                      f"(?:[{_ARABIC}\\s.,:;!?()«»\"'\\-]*[{_ARABIC}.:!?)(»«])?")
_FINAL_ONLY = "ةى"  # letters that end an Arabic word and never start one


def visual_order(text: str) -> bool:
    """Whether the Arabic words of ``text`` are stored reversed: more of them
    start with a word-final letter (ة ى) or end in a reversed article (لا)
    than end in one or start with ال."""
    words = _ARABIC_WORD.findall(text)
    reversed_ = sum(w[0] in _FINAL_ONLY or (len(w) > 3 and w.endswith("لا")) for w in words)
    forward = sum(w[-1] in _FINAL_ONLY or (len(w) > 3 and w.startswith("ال")) for w in words)
    return reversed_ > forward


def logical_line(line: str) -> str:
    """A visual-order line in reading order: each right-to-left run reversed
    where it stands, Latin words and numbers kept as they are. Measured on
    PDFs written by fpdf2, which store runs in reading order with each
    Arabic run reversed and brackets unmirrored; a writer that reverses the
    whole line would leave its Latin runs out of place, and one that stores
    mirrored brackets would show them turned."""
    out, at = [], 0
    for m in _RTL_RUN.finditer(line):
        out.append(line[at:m.start()])
        out.append(" " + m.group(0)[::-1] + " ")
        at = m.end()
    out.append(line[at:])
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def pdf(data: bytes) -> Extracted:
    """The text of a text PDF, page by page in reading order."""
    if len(data) > MAX_PDF_BYTES:
        raise FormatError(f"the PDF is {len(data) // (1024 * 1024)} MB (at most {MAX_PDF_BYTES // (1024 * 1024)} MB)")
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its own warnings on odd files would repeat ours
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise FormatError("the PDF is encrypted")
        pages = [page.extract_text() or "" for page in reader.pages]
        info: Mapping[str, object] = reader.metadata or {}
    except FormatError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as e:
        raise FormatError(f"the PDF is damaged or unreadable ({type(e).__name__})") from None
    whole = "\n".join(pages)
    if visual_order(whole):
        pages = ["\n".join(logical_line(x) for x in p.split("\n")) for p in pages]
    text = _tidy("\n\n".join(p.strip() for p in pages if p.strip()))
    if not text:
        raise FormatError("the PDF has no text layer (a scanned document?); run OCR on it first")
    meta = {"title": str(info.get("/Title") or "").strip(), "author": str(info.get("/Author") or "").strip(),
            "pages": len(pages), "format": "pdf"}
    return Extracted(text, {k: v for k, v in meta.items() if v})


# ---------------------------------------------------------------- JSONL
JSONL_FIELDS = ("text", "id", "title", "date", "url", "author")


def jsonl_records(data: bytes) -> Iterator[tuple[int, Extracted | FormatError, str | None, bytes]]:
    """(line number, the article or why the line is unusable, its ``id``,
    the line's bytes) for each non-blank line of a JSONL export. Fields
    other than ``text`` are kept as metadata."""
    for n, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield n, FormatError(f"line {n} is larger than {MAX_LINE_BYTES // (1024 * 1024)} MB"), None, raw
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig" if n == 1 else "utf-8"))
        except UnicodeDecodeError:
            yield n, FormatError(f"line {n} is not UTF-8 text"), None, raw
            continue
        except ValueError:
            yield n, FormatError(f"line {n} is not JSON"), None, raw
            continue
        if not isinstance(record, dict):
            yield n, FormatError(f"line {n} is not a JSON object"), None, raw
            continue
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            yield n, FormatError(f"line {n} has no 'text'"), None, raw
            continue
        rid = record.get("id")
        meta = {str(k): v for k, v in record.items() if k not in ("text", "id") and _plain(v)}
        meta["format"] = "jsonl"
        meta["line"] = n
        yield n, Extracted(_tidy(text.replace("\r\n", "\n").replace("\r", "\n")), meta), (
            str(rid) if rid not in (None, "") else None), raw


def _plain(v: object) -> bool:
    """A value the index can store as metadata (JSON without nesting surprises)."""
    return isinstance(v, (str, int, float, bool)) or (isinstance(v, list) and all(isinstance(x, str) for x in v))


def _tidy(text: str) -> str:
    """Blank space at the ends of lines and runs of blank lines removed: the
    stored text, to which every offset refers."""
    lines = [x.rstrip() for x in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
