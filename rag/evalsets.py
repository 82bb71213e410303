"""Evaluation sets: questions with gold answers and gold sources.

Two formats are read:

* our JSONL development set (``eval/dev.jsonl``; rows described in rag/devset.py),
  asked against a folder of articles (the project's ``sources/`` by default);
* SQuAD v1.1 JSON (ARCD, TyDi QA GoldP, MLQA, XQuAD). Each paragraph becomes
  one source; the paragraphs of one article form a *group*, which is what the
  refusal test leaves out of the index.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # gold answers; empty when the question is unanswerable
    sources: tuple[str, ...]  # gold source ids
    group: str = ""  # the article its gold source belongs to (SQuAD sets)
    history: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class Paragraph:
    """A SQuAD paragraph, to be written out as one source file."""

    id: str
    group: str  # article title
    text: str


@dataclass(frozen=True)
class EvalSet:
    name: str
    format: str  # "squad" | "jsonl"
    questions: tuple[EvalQuestion, ...]
    paragraphs: tuple[Paragraph, ...] = ()  # SQuAD: the corpus; JSONL: none (a sources folder is used)

    def limited(self, n: int | None) -> "EvalSet":
        """``n`` questions. SQuAD sets take them round-robin over articles
        (the first question of each article, then the second...) and keep
        only those articles' paragraphs, so that a quick run builds a small
        index that still has several articles to leave out; JSONL sets take
        the first ``n``."""
        if not n or n >= len(self.questions):
            return self
        if self.format != "squad":
            return EvalSet(self.name, self.format, self.questions[:n])
        per_group: dict[str, list[EvalQuestion]] = {}
        for q in self.questions:
            per_group.setdefault(q.group, []).append(q)
        picked: list[EvalQuestion] = []
        for depth in range(max(len(v) for v in per_group.values())):
            picked += [qs[depth] for qs in per_group.values() if depth < len(qs)]
        keep = set(id(q) for q in picked[:n])
        qs = tuple(q for q in self.questions if id(q) in keep)  # file order
        groups = {q.group for q in qs}
        return EvalSet(self.name, self.format, qs, tuple(p for p in self.paragraphs if p.group in groups))


def load(path: Path) -> EvalSet:
    """Read a dataset file, telling the format by its content."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None
    if raw.lstrip().startswith("{") and '"data"' in raw[:200_000]:
        try:
            return _squad(path, json.loads(raw))
        except ValueError:
            pass  # not one JSON document: try JSON lines
    return _jsonl(path, raw)


def _jsonl(path: Path, raw: str) -> EvalSet:
    questions = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise DatasetError(f"{path}:{n}: not JSON ({e.msg}); expected SQuAD v1.1 JSON or our JSON lines") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or "answerable" not in row:
            raise DatasetError(f"{path}:{n}: each line needs a 'question' string and 'answerable'")
        answerable = bool(row["answerable"])
        answer = row.get("answer")
        answers = tuple(answer if isinstance(answer, list) else [answer]) if answerable and answer else ()
        if answerable and not answers:
            raise DatasetError(f"{path}:{n}: an answerable row needs an 'answer'")
        questions.append(EvalQuestion(str(row.get("id", n)), row["question"], tuple(map(str, answers)),
                                      tuple(map(str, row.get("sources", []))) if answerable else (),
                                      history=tuple(map(str, row.get("history", [])))))
    if not questions:
        raise DatasetError(f"{path}: no questions found")
    return EvalSet(path.stem, "jsonl", tuple(questions))


def _squad(path: Path, doc: dict) -> EvalSet:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a SQuAD file needs a top-level 'data' list")
    paragraphs, questions, seen = [], [], set()
    try:
        for a, article in enumerate(data):
            group = str(article.get("title") or f"article-{a}")
            for p, para in enumerate(article["paragraphs"]):
                context = para["context"].strip()
                pid = f"{_slug(group)}-{a:04d}-{p:02d}"
                if not context:
                    continue
                paragraphs.append(Paragraph(pid, group, context))
                for qa in para["qas"]:
                    golds = tuple(dict.fromkeys(x["text"].strip() for x in qa["answers"] if x["text"].strip()))
                    qid = str(qa.get("id") or f"{pid}-q{len(questions)}")
                    if not golds or qid in seen:
                        continue
                    seen.add(qid)
                    questions.append(EvalQuestion(qid, qa["question"].strip(), golds, (pid,), group))
    except (KeyError, TypeError, AttributeError) as e:
        raise DatasetError(f"{path}: not SQuAD v1.1 JSON (missing or malformed {e})") from None
    if not questions:
        raise DatasetError(f"{path}: no questions with answers found")
    return EvalSet(path.stem, "squad", tuple(questions), tuple(paragraphs))


def _slug(title: str) -> str:
    """A short, file-name-safe id for an article title (Arabic titles keep a
    hash so that ids stay unique and stable)."""
    ascii_part = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:24]
    digest = hashlib.sha1(title.encode("utf-8")).hexdigest()[:6]
    return f"{ascii_part}-{digest}" if ascii_part else digest
