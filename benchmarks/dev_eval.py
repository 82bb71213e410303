"""Run the development set through Sanad: the reader and the earlier rules
side by side, per split and style, with every miss shown.

    python benchmarks/dev_eval.py [--dev eval/dev.jsonl] [--show] [--sweep]

Scores each question the way tests/test_dev_set.py does (rag.eval.evalsets.correct).
Both deciders read the same trace of each question (Sanad.run). --sweep
shows how the reader's threshold would do on the tune split only; the
threshold Sanad uses is chosen by `rag train-reader` on held-out training
data, not here.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from rag.eval import evalsets
from rag.config import Config
from rag.answer.decision import RuleDecider, decide
from rag.pipeline import Sanad


def main(argv=None):
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", type=Path, default=root / "eval" / "dev.jsonl")
    ap.add_argument("--sweep", action="store_true", help="the reader's threshold on the tune split")
    ap.add_argument("--show", action="store_true", help="print every question and answer")
    args = ap.parse_args(argv)

    sanad = Sanad(Config.load(sources_dir=root / "sources"))
    sanad.ensure_index()
    rows = evalsets.load(args.dev).questions
    traces = [sanad.run(r.question, r.history) for r in rows]
    rules = RuleDecider(settings=sanad.settings)
    by = {"reader": [t.answer for t in traces],
          "rules": [sanad.composer.compose(t.question, rules.decide(t.question, t.evidence))
                    if t.question is not None and t.evidence else t.answer for t in traces]}
    for row, a in zip(rows, by["reader"]):
        ok = evalsets.correct(row, a)
        if args.show or not ok:
            short = f" «{a.short_answer.text}»" if a.short_answer else ""
            print(f"{'ok ' if ok else 'BAD'} {row.id} [{row.split}/{row.style}] {row.question}\n    -> "
                  f"{'REFUSED ' + a.reason + ' ' if a.refused else ''}{short} {a.answer[:160]}", file=sys.stderr)
    report = {name: {split: evalsets.rates(rows, answers, split) for split in ("tune", "check", "all")}
              for name, answers in by.items()}
    styles = Counter(r.style for r in rows)
    report["reader_by_style"] = {
        style: f"{sum(evalsets.correct(r, a) for r, a in zip(rows, by['reader']) if r.style == style)}/{n}"
        for style, n in sorted(styles.items())}
    # answers marked uncertain against the rest: "right/answers" (a wrong answer: an unanswerable row answered,
    # or an answerable one without its expected phrase and source)
    report["reader_answers"] = {
        kind: f"{sum(evalsets.correct(r, a) for r, a in mine)}/{len(mine)}"
        for kind, mine in (("sure", [(r, a) for r, a in zip(rows, by["reader"]) if not a.refused and not a.uncertain]),
                           ("uncertain", [(r, a) for r, a in zip(rows, by["reader"]) if a.uncertain]))}
    print(json.dumps(report, indent=2, ensure_ascii=False))

    if args.sweep:
        tune = [i for i, r in enumerate(rows) if r.split == "tune" and traces[i].decision.candidates]
        for t in [round(0.05 * k, 2) for k in range(1, 20)]:
            ok_a = ok_u = n_a = n_u = 0
            for i in tune:
                tr = traces[i]
                a = sanad.composer.compose(tr.question, decide(tr.question, tr.decision.candidates, sanad.settings, t))
                if rows[i].answerable:
                    n_a, ok_a = n_a + 1, ok_a + evalsets.correct(rows[i], a)
                else:
                    n_u, ok_u = n_u + 1, ok_u + evalsets.correct(rows[i], a)
            print(f"threshold {t:.2f}: answerable correct {ok_a}/{n_a}, unanswerable refused {ok_u}/{n_u}")


if __name__ == "__main__":
    main()
