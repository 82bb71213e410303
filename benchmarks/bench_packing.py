"""The reader's time per question with its windows padded or packed (rag/answer/packing.py).

    python benchmarks/bench_packing.py [--rounds N]

Asks every question of eval/dev.jsonl once and records each batch of windows the reader
reads. Then it reads every batch both ways, alternating call by call, N times, so a host
whose speed drifts (these VMs do, by 10-20 % within minutes) slows both alike. Reports
p50/p95 of the reader's time per question, the share of padding in what it reads, and
the largest difference between the two ways' outputs.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from bench_ask import dev_set_and_sanad, pct  # this folder is on the path of a script run from it

from rag.answer import reader as rd
from rag.answer.packing import ATTENTION


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows, sanad = dev_set_and_sanad()
    reader = sanad.decider.reader
    calls: list[list[tuple[str, list[str]]]] = []
    read = reader.read

    def recording(question, windows):
        calls[-1].append((question, list(windows)))
        return read(question, windows)

    reader.read = recording
    for r in rows:
        calls.append([])
        sanad.ask(r["question"], r.get("history", []))
    reader.read = read
    net, tok = reader.net, reader._tok

    def use(packed: bool):
        net.packed = packed
        net.encoder.config._attn_implementation = ATTENTION if packed else "sdpa"

    batches = [rd.encode(tok, q, w)[:2] for question in calls for q, w in question]
    real = sum(int(m.sum()) for _, m in batches)
    padded = sum(m.numel() for _, m in batches)
    times = {False: [0.0] * len(batches), True: [0.0] * len(batches)}
    diff = 0.0
    with torch.inference_mode():
        for _ in range(args.rounds):
            for i, (ids, mask) in enumerate(batches):
                out = {}
                for packed in ((False, True) if i % 2 else (True, False)):
                    use(packed)
                    t = time.perf_counter()
                    out[packed] = net(ids, mask)
                    times[packed][i] += (time.perf_counter() - t) * 1000 / args.rounds
                keep = mask.bool()
                diff = max(diff, (out[True][0] - out[False][0]).abs().max().item(),
                           *((a[keep] - b[keep]).abs().max().item() for a, b in zip(out[True][1:], out[False][1:])))
    use(True)
    per_question = {}
    for packed in (False, True):
        it = iter(times[packed])
        per_question[packed] = [sum(next(it) for _ in question) for question in calls if question]
    print(f"{len(per_question[True])} questions read ({len(rows)} asked), {len(batches)} batches, "
          f"{sum(len(w) for q in calls for _, w in q)} windows; padding {1 - real / padded:.1%} of "
          f"{padded:,} tokens; largest output difference {diff:.1e}")
    print("| reader ms per question | p50 | p95 | total s |\n|---|---|---|---|")
    for packed, name in ((False, "padded"), (True, "packed")):
        v = per_question[packed]
        print(f"| {name} | {statistics.median(v):.1f} | {pct(v, 0.95):.1f} | {sum(v) / 1000:.1f} |")


if __name__ == "__main__":
    main()
