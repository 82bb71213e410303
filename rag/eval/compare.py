"""Two runs of ``rag eval`` side by side: how each metric moved and which
questions changed their outcome. What a maintainer reads before shipping a
retrained reader or a new rule (EVALUATION.md reports both). Pure functions
over the files a run writes (rag/eval/report.py), apart from ``load_run``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .report import TABLE


@dataclass(frozen=True)
class Run:
    folder: Path
    metrics: dict  # system -> {metric key: value}, as in metrics.json
    rows: list[dict]  # answers.jsonl


@dataclass(frozen=True)
class Change:
    """One question whose outcome differs between the runs."""

    id: str
    present: bool  # asked with its article indexed (False: the refusal test, article removed)
    question: str
    before: str  # outcome (``outcome``)
    after: str
    better: bool | None  # None when neither outcome is right or both are
    # an answerable question's short-answer F1 before and after, when its short answer changed
    # (a form rule moves only these: EVALUATION.md, "Short answers that leave no bracket or quote open")
    short_f1: tuple[float, float] | None = None

    @property
    def short_gain(self) -> float:
        return 0.0 if self.short_f1 is None else self.short_f1[1] - self.short_f1[0]


def load_run(folder: Path) -> Run:
    folder = Path(folder)
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        with open(folder / "answers.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError as e:
        raise DatasetError(f"{folder} is not a `rag eval` output folder ({Path(e.filename).name} is missing)") from None
    except ValueError as e:
        raise DatasetError(f"{folder}: unreadable results ({e})") from None
    return Run(folder, metrics, rows)


def should_answer(row: dict) -> bool:
    """Answerable, with its article in the index (``gold_answers`` empty
    marks our development set's unanswerable rows)."""
    return bool(row.get("present")) and not row.get("impossible") and bool(row.get("gold_answers"))


def outcome(row: dict) -> str:
    """"refused", or "answered" with whether the answer holds the gold and
    its short answer."""
    if row.get("refused"):
        return "refused"
    short = f" «{row['short_answer']}»" if row.get("short_answer") else ""
    if not should_answer(row):
        return "answered" + short
    return ("answered, gold" if row.get("contains_gold") else "answered, no gold") + short


def _right(row: dict) -> bool:
    return bool(row.get("contains_gold")) if should_answer(row) else bool(row.get("refused"))


def metric_deltas(old: Run, new: Run, system: str) -> list[tuple[str, float | None, float | None]]:
    """(label, before, after) for every metric either run has, in the report's order."""
    a, b = old.metrics.get(system, {}), new.metrics.get(system, {})
    return [(label, a.get(key), b.get(key)) for key, label in TABLE if key in a or key in b]


def _asked(run: Run, system: str) -> set[str]:
    return {r["id"] for r in run.rows if r.get("system") == system}


def overlap(old: Run, new: Run, system: str) -> tuple[int, int, int]:
    """How many questions both runs asked, only the old one, and only the new
    one: runs of other sets share none, and a --limit shares part."""
    a, b = _asked(old, system), _asked(new, system)
    return len(a & b), len(a - b), len(b - a)


def changes(old: Run, new: Run, system: str) -> list[Change]:
    """The questions asked in both runs whose outcome differs, worse ones first."""
    before = {(r["id"], bool(r.get("present"))): r for r in old.rows if r.get("system") == system}
    out = []
    for r in new.rows:
        key = (r["id"], bool(r.get("present")))
        if r.get("system") != system or key not in before:
            continue
        old_row = before[key]
        a, b = outcome(old_row), outcome(r)
        if a != b:
            ra, rb = _right(old_row), _right(r)
            short = None
            if should_answer(r) and old_row.get("short_answer") != r.get("short_answer"):
                short = (float(old_row.get("short_f1") or 0.0), float(r.get("short_f1") or 0.0))
            out.append(Change(r["id"], key[1], r.get("question", ""), a, b, None if ra == rb else rb, short))
    # worse first; among the rest, the short answers that lost most first
    return sorted(out, key=lambda c: (c.better is not False, c.better is None, c.short_gain, c.id))
