"""Our JSONL development set: reading it and scoring answers against it.

One object per line::

    {"id": "a01", "question": "...", "answerable": true, "answer": "50 ألف دولار",
     "sources": ["musk-altman-roadster-dispute"], "style": "formal",
     "history": ["an earlier question", ...], "split": "tune" | "check"}

Unanswerable rows have ``"answerable": false`` and no answer or sources.
"""
from __future__ import annotations

import json
from pathlib import Path

from .answer import Answer
from .text import normalize


def load(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if "question" not in row or "answerable" not in row:
                raise ValueError(f"{path}:{n}: each row needs 'question' and 'answerable'")
            rows.append(row)
    return rows


def correct(row: dict, answer: Answer) -> bool:
    """Answerable: not refused, the expected phrase is in the answer (after
    normalization) and an expected source is cited. Unanswerable: refused."""
    if not row["answerable"]:
        return answer.refused
    if answer.refused:
        return False
    cited = {c.source for c in answer.citations}
    return normalize(row["answer"]) in normalize(answer.answer) and bool(cited & set(row["sources"]))


def rates(rows: list[dict], answers: list[Answer], split: str = "all") -> dict:
    pairs = [(r, a) for r, a in zip(rows, answers) if split == "all" or r.get("split") == split]
    ans = [correct(r, a) for r, a in pairs if r["answerable"]]
    una = [correct(r, a) for r, a in pairs if not r["answerable"]]
    return {"answerable_correct": sum(ans) / max(1, len(ans)), "n_answerable": len(ans),
            "unanswerable_refused": sum(una) / max(1, len(una)), "n_unanswerable": len(una)}
