"""Writing an evaluation's results: metrics.json, answers.jsonl, report.md and
PNG plots (recall@k per system; refusal trade-off curves)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

from .evaluate import SYSTEMS, EvalResult

# Rows of the side-by-side table: (metric key, label). Keys are the stable
# names of metrics.json; scripts read them.
TABLE = [
    ("retrieval.recall@1", "retrieval recall@1"),
    ("retrieval.recall@5", "retrieval recall@5"),
    ("retrieval.recall@10", "retrieval recall@10"),
    ("retrieval.mrr", "retrieval MRR"),
    ("answer.contains_gold", "answer contains gold"),
    ("answer.f1", "answer token F1"),
    ("answer.short_f1", "short answer F1"),
    ("answer.short_em", "short answer exact match"),
    ("answer.answered", "answered (not refused)"),
    ("citations.contains_gold", "cited text contains gold"),
    ("citations.verbatim", "citations verbatim"),
    ("refusal.refused_when_absent", "refused when absent"),
    ("refusal.false_refusals", "false refusals"),
    ("refusal.refused_at_5pct_false", "refused at ≤ 5 % false refusals"),
    ("refusal.refused_at_10pct_false", "refused at ≤ 10 % false refusals"),
    ("refusal.precision", "refusal precision"),
    ("refusal.f1", "refusal F1"),
    ("answer.uncertain", "answers marked uncertain"),
    ("answer.right_when_sure", "answers holding gold, not marked"),
    ("answer.right_when_uncertain", "answers holding gold, marked uncertain"),
    ("answer.related_gold_when_uncertain_wrong", "uncertain and missing the gold: a passage offered beside holds it"),
    ("answerability.accuracy", "answerability accuracy (SQuAD 2.0)"),
    ("answerability.balanced_accuracy", "answerability balanced accuracy"),
    ("latency_ms.p50", "latency p50 (ms)"),
    ("latency_ms.p95", "latency p95 (ms)"),
]


# The keys `rag eval` prints, in this order: a subset of TABLE's keys (metrics.json and the
# report hold them all). Rows a set does not measure (answerability outside SQuAD 2.0) are left out.
SUMMARY_KEYS = ("retrieval.recall@1", "retrieval.recall@5", "answer.contains_gold", "answer.f1",
                "answer.short_f1", "answerability.balanced_accuracy", "citations.verbatim",
                "refusal.refused_when_absent", "refusal.false_refusals", "refusal.refused_at_5pct_false",
                "refusal.refused_at_10pct_false", "latency_ms.p50")


def eval_summary(metrics: dict[str, dict[str, float | None]], systems: list[str]) -> str:
    """The table `rag eval` prints: one row per key some system measured, '-' where one did not."""
    rows = [(key, [metrics[s].get(key) for s in systems]) for key in SUMMARY_KEYS]
    rows = [(key, vals) for key, vals in rows if any(v is not None for v in vals)]
    width = max([len(key) for key, _ in rows] + [0]) + 2
    lines = [" " * width + "".join(f"{s:>12}" for s in systems)]
    lines += [f"{key:{width}}" + "".join(f"{'-' if v is None else round(v, 3):>12}" for v in vals)
              for key, vals in rows]
    return "\n".join(lines)


def write_report(result: EvalResult, out_dir: Path, command: str = "") -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result.metrics, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    with open(out / "answers.jsonl", "w", encoding="utf-8") as f:
        for row in result.rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    plots = _plots(result, out)
    (out / "report.md").write_text(_markdown(result, plots, command), encoding="utf-8")
    return out / "report.md"


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if value >= 10 else f"{value:.3f}"


def _markdown(r: EvalResult, plots: list[str], command: str) -> str:
    systems = [s for s in SYSTEMS if s in r.metrics]
    c = r.counts
    absent = (f", each also asked with its article left out ({c['folds']} folds over articles)"
              if c["asked_absent"] else "")
    lines = [f"# Evaluation: {r.dataset}", "",
             f"- command: `{command}`" if command else "",
             f"- run: {time.strftime('%Y-%m-%d %H:%M')} on {_machine()}, commit {_commit()}",
             f"- data: {c['questions']} questions ({c['answerable']} answerable, {c['unanswerable']} unanswerable)"
             f"{absent}; index of {c['sources']} sources, {c['chunks']} chunks",
             f"- model: {r.settings['model']}; chunks {r.settings['chunking']['size']}/"
             f"{r.settings['chunking']['overlap']}; FAISS {r.settings['faiss'].get('factory', '?')}",
             "", "| metric | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for key, label in TABLE:
        if any(key in r.metrics[s] for s in systems):
            cells = [_fmt(r.metrics[s].get(key)) for s in systems]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Baselines answer with their top passage and never refuse (—). Sanad answers with one or two "
                  "quoted sentences, led by a short answer, or refuses. \"sanad\" decides with the trained "
                  "reader; \"sanad-rules\" is the earlier hand-set rules deciding on the same evidence in the "
                  "same run. \"Refused at ≤ 5 % false refusals\": the reader's refusal curve read at that cost, "
                  "the most questions to refuse that any threshold on its decision score refuses while refusing at "
                  "most that share of the answerable ones (exact below the reader's own threshold, an estimate "
                  "above it).", ""]
    for system, kinds in r.by_kind.items():
        lines += [f"## By question kind: {system}", "",
                  "| kind | answerable (present) | answered | contains gold | short F1 | should refuse | refused |",
                  "|---|---|---|---|---|---|---|"]
        for kind, cell in kinds.items():
            lines.append(f"| {kind} | {int(cell['questions'])} | {_fmt(cell.get('answered'))} | "
                         f"{_fmt(cell.get('contains_gold'))} | {_fmt(cell.get('short_f1'))} | "
                         f"{int(cell.get('should_refuse', 0))} | {_fmt(cell.get('refused'))} |")
        lines.append("")
    lines += [f"![{p}]({p})" for p in plots]
    for name, points in r.curves.items():
        lines += ["", f"## Refusal curve: {name}", "",
                  "| threshold | refused when absent | false refusals |", "|---|---|---|"]
        lines += [f"| {p['threshold']} | {p['refused_when_absent']:.3f} | {p['false_refusals']:.3f} |"
                  for p in points]
    lines += ["", "## Definitions", "",
              "- retrieval: rank of the first gold source among the distinct sources of the ranked chunks "
              "(questions with a gold source).",
              "- answer contains gold: a gold answer is a substring of the answer after Arabic normalization "
              "and punctuation removal; a refusal counts as a miss. Token F1: SQuAD-style, best over the golds.",
              "- cited text contains gold: of the answered questions, the share where some cited text "
              "contains a gold answer. Verbatim: share of all citations equal to their source at their offsets "
              "(LangChain passages carry no offsets: found in their source).",
              "- refused when absent: questions asked with their article left out of the index (or "
              "unanswerable rows) that were refused. False refusals: answerable questions, article present, "
              "refused. Precision/F1 treat refusal as detecting an absent answer.",
              "- short answer F1 / exact match: the short answer against the gold answers (SQuAD-style); a "
              "refusal or an answer without a short answer counts 0. Answerability (SQuAD 2.0 sets): answerable "
              "questions answered and unanswerable ones refused, with their own paragraph in the index; "
              "balanced accuracy is the mean of the two rates.",
              "- latency: per question, as the system runs it (Sanad: ask(); baselines: embed + search).",
              "- details of every question: answers.jsonl.", ""]
    return "\n".join(x for x in lines if x is not None)


def _plots(r: EvalResult, out: Path) -> list[str]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    systems = [s for s in SYSTEMS if s in r.metrics and "retrieval.recall@1" in r.metrics[s]]
    if systems:
        ks = list(range(1, 11))
        rows = [x for x in r.rows if x["present"] and x["gold_sources"] and x["gold_answers"]]
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        for s in systems:
            ranks = [x["rank"] for x in rows if x["system"] == s]
            ax.plot(ks, [sum(1 for k_ in ranks if k_ and k_ <= k) / max(1, len(ranks)) for k in ks],
                    marker="o", label=s)
        ax.set(xlabel="k", ylabel="recall@k (gold source in top k)", title=f"{r.dataset}: retrieval",
               xticks=ks, ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "recall_at_k.png")
        plt.close(fig)
        names.append("recall_at_k.png")
    if r.curves:
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
        for name, points in r.curves.items():
            ax.plot([p["false_refusals"] for p in points], [p["refused_when_absent"] for p in points],
                    marker=".", label=name)
        configured = r.metrics.get("sanad", {})
        fr, rwa = configured.get("refusal.false_refusals"), configured.get("refusal.refused_when_absent")
        if fr is not None and rwa is not None:
            ax.plot([fr], [rwa], "k*", markersize=14, label="sanad as configured")
        ax.set(xlabel="false refusals (answerable, article present)",
               ylabel="refused when the article is absent", title=f"{r.dataset}: refusal trade-off",
               xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(out / "refusal_curve.png")
        plt.close(fig)
        names.append("refusal_curve.png")
    return names


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def _commit() -> str:
    """The code's commit, marked when the working tree had local changes."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=here).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (with local changes)" if head and dirty else head or "unknown"
