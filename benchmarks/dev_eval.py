"""Run the development set through Sanad and calibrate the refusal thresholds.

    python benchmarks/dev_eval.py [--dev eval/dev.jsonl] [--sweep] [--show]

Scores each question the way tests/test_dev_set.py does: an answerable
question is right when the answer contains the expected phrase (after
normalization) and cites one of the expected sources; an unanswerable one is
right when refused. --sweep grid-searches the thresholds on the tune split
only and reports the check split with the chosen values.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

from rag.answer import ExtractiveComposer, Thresholds
from rag.config import Config
from rag.pipeline import Sanad
from rag import devset
from rag.devset import correct


class Recorder:
    """A composer that remembers the evidence it was given."""

    def __init__(self):
        self.inner = ExtractiveComposer()
        self.last = None

    def compose(self, question, evidence):
        self.last = (question, list(evidence))
        return self.inner.compose(question, evidence)


def rates(rows, answers) -> dict:
    return {split: devset.rates(rows, answers, split) for split in ("tune", "check", "all")}


def main(argv=None):
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", type=Path, default=root / "eval" / "dev.jsonl")
    ap.add_argument("--sweep", action="store_true", help="grid-search thresholds on the tune split")
    ap.add_argument("--show", action="store_true", help="print every question and answer")
    args = ap.parse_args(argv)

    recorder = Recorder()
    sanad = Sanad(Config.load(sources_dir=root / "sources"), composer=recorder)
    sanad.ensure_index()
    rows = devset.load(args.dev)
    answers, recorded = [], []
    for row in rows:
        answers.append(sanad.ask(row["question"], row.get("history", [])))
        recorded.append(recorder.last)
    for row, a in zip(rows, answers):
        if args.show or not correct(row, a):
            mark = "ok " if correct(row, a) else "BAD"
            print(f"{mark} {row['id']} [{row['split']}] {row['question']}\n    -> {'REFUSED ' if a.refused else ''}"
                  f"{a.answer[:160]}", file=sys.stderr)
    print(json.dumps(rates(rows, answers), indent=2))

    if args.sweep:
        tune = [i for i, r in enumerate(rows) if r["split"] == "tune" and recorded[i] is not None]
        best = None
        grid = itertools.product([0.2, 0.3, 0.4, 0.5], [0.5, 0.6, 0.65, 0.7, 0.75, 0.8],
                                 [0.78, 0.8, 0.82, 0.84, 0.86], [0.76, 0.78, 0.8, 0.82], [0.3, 0.5, 0.7])
        for cov_s, cov, dense, dense_latin, cov_latin in grid:
            if cov_s > cov:
                continue
            t = replace(Thresholds(), min_coverage=cov_s, min_context_coverage=cov, min_dense=dense,
                        min_dense_latin=dense_latin, min_context_coverage_latin=cov_latin)
            comp = ExtractiveComposer(t)
            ok_a = ok_u = n_a = n_u = 0
            for i in tune:
                q, ev = recorded[i]
                a = comp.compose(q, ev)
                if rows[i]["answerable"]:
                    n_a += 1
                    ok_a += correct(rows[i], a)
                else:
                    n_u += 1
                    ok_u += correct(rows[i], a)
            # balanced accuracy: refusing everything or nothing scores 0.5
            score = (ok_a / n_a + ok_u / n_u) / 2
            if best is None or score > best[0]:
                best = (score, t, ok_a / n_a, ok_u / n_u)
        print(f"best on tune: balanced accuracy {best[0]:.3f} (answerable {best[2]:.3f}, refused {best[3]:.3f}) "
              f"with {best[1]}")


if __name__ == "__main__":
    main()
