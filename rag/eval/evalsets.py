"""Evaluation sets: questions with gold answers and gold sources.

Two formats are read:

* our JSONL development set (``eval/dev.jsonl``), asked against a folder of
  articles (the project's ``sources/`` by default). One object per line::

    {"id": "a01", "question": "...", "answerable": true, "answer": "50 ألف دولار",
     "sources": ["musk-altman-roadster-dispute"], "style": "formal",
     "history": ["an earlier question", ...], "split": "tune" | "check"}

  Unanswerable rows have ``"answerable": false`` and no answer or sources;
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
from typing import Sequence

from ..errors import DatasetError
from ..text import normalize


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answers: tuple[str, ...]  # gold answers; empty when the question is unanswerable
    sources: tuple[str, ...]  # gold source ids
    group: str = ""  # the article its gold source belongs to (SQuAD sets)
    history: tuple[str, ...] = ()
    # SQuAD 2.0: unanswerable although its own paragraph (``sources``) is in the index
    impossible: bool = False
    style: str = ""  # JSONL sets: formal, dialect, english, near-miss...
    split: str = ""  # JSONL sets: "tune" (thresholds may look at it) or "check" (held out)

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
        index that still has several articles to leave out. A SQuAD 2.0 set
        keeps its share of unanswerable questions (at least one), whatever
        the file's order, so a short run still measures answerability. JSONL
        sets take the first ``n``."""
        if not n or n >= len(self.questions):
            return self
        if self.format != "squad":
            return EvalSet(self.name, self.format, self.questions[:n])
        impossible = [q for q in self.questions if q.impossible]
        k = 0
        if impossible and n >= 2:
            k = min(n - 1, max(1, round(n * len(impossible) / len(self.questions))))
        picked = (_round_robin([q for q in self.questions if not q.impossible], n - k)
                  + _round_robin(impossible, k))
        keep = set(id(q) for q in picked)
        qs = tuple(q for q in self.questions if id(q) in keep)  # file order
        groups = {q.group for q in qs}
        return EvalSet(self.name, self.format, qs, tuple(p for p in self.paragraphs if p.group in groups))


def _round_robin(questions: list[EvalQuestion], n: int) -> list[EvalQuestion]:
    """The first ``n`` questions taken one article at a time: the first of
    each article, then the second..."""
    per_group: dict[str, list[EvalQuestion]] = {}
    for q in questions:
        per_group.setdefault(q.group, []).append(q)
    picked: list[EvalQuestion] = []
    for depth in range(max((len(v) for v in per_group.values()), default=0)):
        picked += [qs[depth] for qs in per_group.values() if depth < len(qs)]
    return picked[:n]


def _read_text(path: Path) -> str:
    """The file's text; what stops it being read is a DatasetError naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise DatasetError(f"{path}: {e.strerror or e}") from None


def load(path: Path) -> EvalSet:
    """Read a dataset file, telling the format by its content."""
    path = Path(path)
    raw = _read_text(path)
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
            raise DatasetError(f"{path}:{n}: not JSON ({getattr(e, 'msg', e)}); "
                               "expected SQuAD JSON or our JSON lines") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or "answerable" not in row:
            raise DatasetError(f"{path}:{n}: each line needs a 'question' string and 'answerable'")
        answerable = bool(row["answerable"])
        answer = row.get("answer")
        answers = tuple(answer if isinstance(answer, list) else [answer]) if answerable and answer else ()
        if answerable and not answers:
            raise DatasetError(f"{path}:{n}: an answerable row needs an 'answer'")
        questions.append(EvalQuestion(str(row.get("id", n)), row["question"], tuple(map(str, answers)),
                                      tuple(map(str, row.get("sources", []))) if answerable else (),
                                      history=tuple(map(str, row.get("history", []))),
                                      style=str(row.get("style", "")), split=str(row.get("split", ""))))
    if not questions:
        raise DatasetError(f"{path}: no questions found")
    return EvalSet(path.stem, "jsonl", tuple(questions))


@dataclass(frozen=True)
class SquadQA:
    id: str
    question: str
    answers: tuple[tuple[str, int], ...]  # (text, start offset into the context)
    impossible: bool = False  # SQuAD 2.0: the paragraph does not answer it
    plausible: tuple[tuple[str, int], ...] = ()  # SQuAD 2.0: what a careless reader would answer


@dataclass(frozen=True)
class SquadParagraph:
    article: str  # title
    context: str
    qas: tuple[SquadQA, ...]
    where: tuple[int, int] = (0, 0)  # (article, paragraph) position in the file


def read_squad(path: Path) -> list[SquadParagraph]:
    """The paragraphs of a SQuAD v1.1 or 2.0 file. A malformed entry is a
    DatasetError naming the file and the row (data[a].paragraphs[p].qas[q])."""
    path = Path(path)
    raw = _read_text(path)
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise DatasetError(f"{path}: not JSON ({e})") from None
    return _squad_paragraphs(path, doc)


def _spans(items, where: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(items, list):
        raise TypeError(f"{where} is not a list")
    out = []
    for x in items:
        if not isinstance(x, dict) or not isinstance(x.get("text"), str):
            raise TypeError(f"{where} has an entry without a 'text' string")
        if x["text"].strip():
            out.append((x["text"], int(x.get("answer_start", -1))))
    return tuple(out)


def _squad_paragraphs(path: Path, doc) -> list[SquadParagraph]:
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: a SQuAD file needs a top-level 'data' list")
    out = []
    for a, article in enumerate(data):
        for p, para in enumerate(article.get("paragraphs", []) if isinstance(article, dict) else [None]):
            where = f"data[{a}].paragraphs[{p}]"
            try:
                context = para["context"]
                if not isinstance(context, str):
                    raise TypeError("'context' is not a string")
                qas = []
                for q, qa in enumerate(para["qas"]):
                    where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                    if not isinstance(qa.get("question"), str):
                        raise TypeError("'question' is missing or not a string")
                    impossible = bool(qa.get("is_impossible", False))
                    # an answerable question whose answers are all empty (two in AAQAD
                    # train) has nothing to learn or score: callers skip it
                    answers = _spans(qa.get("answers", []), "'answers'")
                    qas.append(SquadQA(str(qa.get("id") or f"{a}-{p}-{q}"), qa["question"].strip(),
                                       () if impossible else answers, impossible,
                                       _spans(qa.get("plausible_answers", []), "'plausible_answers'")))
            except (KeyError, TypeError, AttributeError, ValueError) as e:
                raise DatasetError(f"{path}: {where}: not SQuAD JSON ({type(e).__name__}: {e})") from None
            out.append(SquadParagraph(str(article.get("title") or f"article-{a}"), context, tuple(qas), (a, p)))
    return out


def _squad(path: Path, doc: dict) -> EvalSet:
    paragraphs, questions, seen = [], [], set()
    for para in _squad_paragraphs(path, doc):
        group, (a, p) = para.article, para.where
        context = para.context.strip()
        pid = f"{_slug(group)}-{a:04d}-{p:02d}"
        if not context:
            continue
        paragraphs.append(Paragraph(pid, group, context))
        for qa in para.qas:
            golds = tuple(dict.fromkeys(t.strip() for t, _ in qa.answers if t.strip()))
            if (not golds and not qa.impossible) or qa.id in seen:
                continue
            seen.add(qa.id)
            questions.append(EvalQuestion(qa.id, qa.question, golds, (pid,), group, impossible=qa.impossible))
    if not questions:
        raise DatasetError(f"{path}: no questions with answers found")
    return EvalSet(path.stem, "squad", tuple(questions), tuple(paragraphs))


def _slug(title: str) -> str:
    """A short, file-name-safe id for an article title (Arabic titles keep a
    hash so that ids stay unique and stable)."""
    ascii_part = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:24]
    digest = hashlib.sha1(title.encode("utf-8")).hexdigest()[:6]
    return f"{ascii_part}-{digest}" if ascii_part else digest


def correct(q: EvalQuestion, answer) -> bool:
    """Development-set scoring. Answerable: not refused, the expected phrase
    is in the answer (after normalization) and an expected source is cited.
    Unanswerable: refused."""
    if not q.answerable:
        return answer.refused
    if answer.refused:
        return False
    cited = {c.source for c in answer.citations}
    return any(normalize(a) in normalize(answer.answer) for a in q.answers) and bool(cited & set(q.sources))


def rates(questions: Sequence[EvalQuestion], answers: Sequence, split: str = "all") -> dict:
    """Answerable answered correctly and unanswerable refused, on one split."""
    pairs = [(q, a) for q, a in zip(questions, answers) if split == "all" or q.split == split]
    ans = [correct(q, a) for q, a in pairs if q.answerable]
    una = [correct(q, a) for q, a in pairs if not q.answerable]
    return {"answerable_correct": sum(ans) / max(1, len(ans)), "n_answerable": len(ans),
            "unanswerable_refused": sum(una) / max(1, len(una)), "n_unanswerable": len(una)}
