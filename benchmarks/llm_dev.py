"""Generative answers on the development set, beside the extractive ones
(issue 12; EVALUATION.md "Generative answers"). Needs an LLM endpoint:

    python scripts/llm_server.py --port 8080 &         # or any OpenAI-compatible server
    SANAD_LLM_URL=http://127.0.0.1:8080/v1 python benchmarks/llm_dev.py [--limit N] [--out FILE]

For each row: the extractive answer, then the LLM's (same retrieval and
decision). Counts answers the LLM wrote and kept, answers replaced by the
extractive fallback, sentences dropped by verification (from the log),
refusals of unanswerable rows, whether the gold answer appears, and the
LLM's latency. Writes every answer pair to --out (JSON lines) for reading.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.config import Config  # noqa: E402
from rag.pipeline import Sanad  # noqa: E402
from rag.text import normalize  # noqa: E402


class Counter(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.dropped: list[str] = []
        self.failed: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("dropped an LLM sentence"):
            self.dropped.append(msg)
        elif msg.startswith("LLM answer not used"):
            self.failed.append(msg)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", type=Path, default=Path("eval/dev.jsonl"))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--rows", metavar="START:STEP", default="0:1",
                    help="a sample: every STEP-th row from START (an LLM answer takes 5-40 s on 2 cores)")
    ap.add_argument("--out", type=Path, default=Path("eval/results/llm-dev.jsonl"))
    args = ap.parse_args()
    config = Config.load()
    if not config.llm_url:
        sys.exit("error: set SANAD_LLM_URL to an OpenAI-compatible endpoint")
    counter = Counter()
    logging.getLogger("sanad.generative").addHandler(counter)
    logging.getLogger("sanad.generative").setLevel(logging.INFO)
    sanad = Sanad(config)
    sanad.warm_up()
    start, step = (int(x) for x in args.rows.split(":"))
    rows = [json.loads(line) for line in args.dev.open(encoding="utf-8") if line.strip()][start::step][: args.limit]
    stats = {"rows": len(rows), "asked": 0, "llm_kept": 0, "fallback": 0, "endpoint_failed": 0,
             "sentences_kept": 0, "unanswerable": 0, "refused_extractive": 0, "refused_llm": 0,
             "gold_extractive": 0, "gold_llm": 0, "answerable": 0}
    latency: list[float] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            history = row.get("history", [])
            ext = sanad.ask(row["question"], history)
            before_drop, before_fail = len(counter.dropped), len(counter.failed)
            t0 = time.perf_counter()
            gen = sanad.ask(row["question"], history, llm=True)
            spent = (time.perf_counter() - t0) * 1000
            if not ext.refused:
                stats["asked"] += 1
                latency.append(gen.timings_ms.get("llm", spent))
                kept = gen.composer == "llm"
                stats["llm_kept"] += kept
                stats["fallback"] += not kept
                stats["sentences_kept"] += len(gen.statements) if kept else 0
                stats["endpoint_failed"] += len(counter.failed) > before_fail
            if row["answerable"]:
                stats["answerable"] += 1
                gold = normalize(str(row.get("answer", "")))
                stats["gold_extractive"] += bool(gold) and not ext.refused and gold in normalize(ext.answer)
                stats["gold_llm"] += bool(gold) and not gen.refused and gold in normalize(gen.answer)
            else:
                stats["unanswerable"] += 1
                stats["refused_extractive"] += ext.refused
                stats["refused_llm"] += gen.refused
            out.write(json.dumps({"id": row["id"], "question": row["question"], "answerable": row["answerable"],
                                  "gold": row.get("answer"), "extractive": ext.answer, "composer": gen.composer,
                                  "llm": gen.answer, "dropped": counter.dropped[before_drop:],
                                  "llm_ms": round(spent)}, ensure_ascii=False) + "\n")
            print(f"{row['id']}: {gen.composer:10s} {spent:7.0f} ms  {gen.answer[:90]!r}", flush=True)
    stats["sentences_dropped"] = len(counter.dropped)
    stats["llm_ms_p50"] = round(statistics.median(latency)) if latency else None
    stats["llm_ms_p95"] = round(pct(latency, 0.95)) if latency else None
    print(json.dumps(stats, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
