"""Per-question latency of retrieval plus answer, after warm-up.

    python benchmarks/bench_ask.py [--rounds N]

Asks every question of eval/dev.jsonl (with its history) N times and reports
p50/p95 of the whole ask() call and of its parts. Warm-up includes reading
ahead English questions' words, as the page does in the background after its
start (about 6 s over our five articles); a question asked during that pays
for at most one batch of it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rag.config import Config
from rag.pipeline import Sanad


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def dev_set_and_sanad() -> tuple[list[dict], Sanad]:
    """The development set's rows and a warmed-up Sanad over our articles."""
    root = Path(__file__).resolve().parents[1]
    rows = [json.loads(x) for x in (root / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines() if x]
    sanad = Sanad(Config.load(sources_dir=root / "sources"))
    sanad.ensure_index()
    sanad.warm_up()
    sanad.warm_english()  # what the page reads in the background after its start (Sanad.warm_english)
    return rows, sanad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows, sanad = dev_set_and_sanad()
    total, parts = [], {}
    for _ in range(args.rounds):
        for r in rows:
            t = time.perf_counter()
            a = sanad.ask(r["question"], r.get("history", []))
            total.append((time.perf_counter() - t) * 1000)
            for k, v in a.timings_ms.items():
                parts.setdefault(k, []).append(v)
    print(f"{len(total)} questions ({len(rows)} x {args.rounds})")
    print("| part | p50 ms | p95 ms |\n|---|---|---|")
    print(f"| ask() total | {statistics.median(total):.1f} | {pct(total, 0.95):.1f} |")
    for k in ("embed", "retrieve", "compose"):
        if k in parts:
            print(f"| {k} | {statistics.median(parts[k]):.1f} | {pct(parts[k], 0.95):.1f} |")


if __name__ == "__main__":
    main()
