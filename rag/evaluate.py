"""The evaluation harness behind ``rag eval``: Sanad and the baselines on one
dataset, in one run, with the same index, model and questions.

    result = evaluate(load_evalset(path), Config.load(), EvalOptions(work_dir=...))
    write_report(result, out_dir)          # rag/report.py

For a SQuAD-format set, the paragraphs are written as sources into
``work_dir/sources`` and indexed into ``work_dir/index`` (never the main
index); rebuilding is incremental, so a rerun embeds nothing again. Every
question is asked once with its article present. To measure refusal, the
articles are split into ``folds`` groups; each question is asked again
against the index without its group's articles (Index.without), where the
right response is to refuse. Our JSONL set has its own unanswerable
questions instead.
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import yaml

from . import index as ix
from . import metrics as m
from .answer import ExtractiveComposer, Thresholds
from .baselines import DEPTH, BM25Baseline, Cited, DenseBaseline, LangChainBaseline, Response
from .config import Config
from .errors import DatasetError
from .evalsets import EvalQuestion, EvalSet
from .pipeline import Sanad
from .sources import scan_sources

SYSTEMS = ("sanad", "bm25", "dense", "langchain")
KS = (1, 5, 10)
# Refusal curves: one threshold varied, the others at their calibrated values.
CURVES = {
    "min_dense": [round(0.70 + 0.01 * i, 2) for i in range(26)],
    "min_context_coverage": [round(0.05 * i, 2) for i in range(21)],
}
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class EvalOptions:
    work_dir: Path  # sources and index of the dataset live here
    systems: tuple[str, ...] = SYSTEMS
    folds: int = 5
    limit: int | None = None
    sources_dir: Path | None = None  # JSONL sets: the articles (default: config.sources_dir)


@dataclass
class EvalResult:
    dataset: str
    format: str
    counts: dict
    metrics: dict[str, dict[str, float]]  # system -> flat metric name -> value
    curves: dict[str, list[dict]]  # curve name -> [{threshold, refused_when_absent, false_refusals}]
    rows: list[dict] = field(repr=False)  # per question and system (answers.jsonl)
    settings: dict = field(default_factory=dict)


class _Recorder:
    """A composer that keeps the last evidence it was given, so refusal can be
    recomputed at other thresholds without asking again."""

    def __init__(self, inner: ExtractiveComposer):
        self.inner, self.last = inner, None

    def compose(self, question, evidence):
        self.last = (question, list(evidence))
        return self.inner.compose(question, evidence)


class _MemoQueries:
    """The embedder with query vectors remembered: the untimed passes
    (ranking for recall, refusal folds) reuse what the timed ask computed."""

    def __init__(self, embedder):
        self.inner, self.memo = embedder, {}
        self.model_id = getattr(embedder, "model_id", "")

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def embed_query(self, text):
        if text not in self.memo:
            self.memo[text] = self.inner.embed_query(text)
        return self.memo[text]


# -------------------------------------------------------------------- corpus
def write_sources(evalset: EvalSet, folder: Path) -> None:
    """One Markdown file per paragraph, titled with its article; files of
    earlier runs that are not in this set are removed (the index then drops
    them too)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for p in evalset.paragraphs:
        head = yaml.safe_dump({"title": p.group, "article": p.group}, allow_unicode=True, width=10_000)
        wanted[f"{p.id}.md"] = f"---\n{head}---\n{p.text}\n"
    for f in folder.glob("*.md"):
        if f.name not in wanted:
            f.unlink()
    for name, text in wanted.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def folds_of(groups: list[str], k: int, seed: int = 13) -> dict[str, int]:
    """Articles -> fold number, shuffled reproducibly."""
    order = sorted(set(groups))
    random.Random(seed).shuffle(order)
    return {g: i % k for i, g in enumerate(order)}


# --------------------------------------------------------------------- runs
def _sanad_response(answer, ranking: tuple[str, ...]) -> Response:
    return Response(ranking, answer.answer, answer.refused,
                    tuple(Cited(c.source, c.text, c.start, c.end) for c in answer.citations),
                    answer.timings_ms.get("total", 0.0))


def _row(system: str, q: EvalQuestion, r: Response, present: bool) -> dict:
    rank = m.rank_of(r.ranking, q.sources) if q.sources else None
    row = {"system": system, "id": q.id, "question": q.question, "present": present,
           "gold_answers": list(q.answers), "gold_sources": list(q.sources),
           "ranking": list(r.ranking[:10]), "rank": rank, "answer": r.answer, "refused": r.refused,
           "citations": [c.__dict__ for c in r.citations], "latency_ms": round(r.latency_ms, 2)}
    if q.answerable:
        row["contains_gold"] = (not r.refused) and m.contains_gold(r.answer, q.answers)
        row["f1"] = 0.0 if r.refused else round(m.token_f1(r.answer, q.answers), 4)
        row["cited_gold"] = any(m.contains_gold(c.text, q.answers) for c in r.citations)
    return row


def _verbatim(c: dict, sources: dict) -> bool:
    src = sources.get(c["source"])
    if src is None:
        return False
    if c["start"] < 0:  # no offsets given: it must at least occur in its source
        return c["text"] in src.text
    return src.text[c["start"]:c["end"]] == c["text"]


def summarize(rows: list[dict], sources: dict, refuses: bool) -> dict[str, float]:
    """The flat metrics of one system from its rows (both passes)."""
    present = [r for r in rows if r["present"]]
    answerable = [r for r in present if r["gold_answers"]]
    ranks = [r["rank"] for r in answerable if r["gold_sources"]]
    out: dict[str, float] = {}
    if ranks:
        for k in KS:
            out[f"retrieval.recall@{k}"] = m.recall_at(ranks, k)
        out["retrieval.mrr"] = m.mrr(ranks)
    if answerable:
        answered = [r for r in answerable if not r["refused"]]
        out["answer.contains_gold"] = sum(r["contains_gold"] for r in answerable) / len(answerable)
        out["answer.f1"] = sum(r["f1"] for r in answerable) / len(answerable)
        out["answer.answered"] = len(answered) / len(answerable)
        out["citations.contains_gold"] = sum(r["cited_gold"] for r in answered) / max(1, len(answered))
    cites = [c for r in rows for c in r["citations"]]
    if cites:
        out["citations.verbatim"] = sum(_verbatim(c, sources) for c in cites) / len(cites)
    if refuses:
        absent = [r["refused"] for r in rows if not r["present"] or not r["gold_answers"]]
        normal = [r["refused"] for r in answerable]
        for key, value in m.refusal(absent, normal).items():
            out[f"refusal.{key}"] = value
    lat = [r["latency_ms"] for r in present]
    out["latency_ms.p50"] = m.percentile(lat, 50)
    out["latency_ms.p95"] = m.percentile(lat, 95)
    return out


def _curve(recorded_absent, recorded_normal, composer: ExtractiveComposer, knob: str, values) -> list[dict]:
    def refused(rec, t):
        if rec is None:  # ask() stopped before composing (an empty or unclear question)
            return True
        return ExtractiveComposer(t).compose(*rec).refused

    points = []
    for v in values:
        t = replace(composer.t, **{knob: v})
        if knob == "min_dense":
            t = replace(t, min_dense_latin=v)
        points.append({"threshold": v,
                       "refused_when_absent": sum(refused(r, t) for r in recorded_absent) / max(1, len(recorded_absent)),
                       "false_refusals": sum(refused(r, t) for r in recorded_normal) / max(1, len(recorded_normal))})
    return points


def _score_curve(absent_scores, normal_scores, values) -> list[dict]:
    """Refuse when the top passage's score is below the threshold."""
    def share(scores, v):
        return sum(s is None or s < v for s in scores) / max(1, len(scores))
    return [{"threshold": v, "refused_when_absent": share(absent_scores, v),
             "false_refusals": share(normal_scores, v)} for v in values]


def evaluate(evalset: EvalSet, config: Config, options: EvalOptions, embedder=None,
             progress: Progress | None = None, thresholds: Thresholds | None = None) -> EvalResult:
    from .embedding import SentenceTransformerEmbedder

    progress = progress or (lambda stage, done, total: None)
    unknown = set(options.systems) - set(SYSTEMS)
    if unknown:
        raise DatasetError(f"unknown system(s): {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")
    evalset = evalset.limited(options.limit)
    embedder = embedder or SentenceTransformerEmbedder.from_config(config)
    work = Path(options.work_dir)
    if evalset.format == "squad":
        write_sources(evalset, work / "sources")
        sources_dir = work / "sources"
    else:
        sources_dir = Path(options.sources_dir or config.sources_dir)
    cfg = config.with_values(sources_dir=sources_dir, index_dir=work / "index")
    t_build = time.perf_counter()
    report = ix.build(cfg, embedder, progress=lambda stage, done, total: progress("index", done, total))
    build_s = time.perf_counter() - t_build
    index = ix.load(cfg)
    if evalset.format == "jsonl":
        known = set(index.sources)
        missing = sorted({s for q in evalset.questions for s in q.sources} - known)
        if missing:
            raise DatasetError(f"the dataset names sources that are not in {sources_dir}: {', '.join(missing[:5])}")

    memo = _MemoQueries(embedder)
    recorder = _Recorder(ExtractiveComposer(thresholds))
    sanad = Sanad.over(index, cfg, memo, recorder)
    systems: dict[str, object] = {}
    if "bm25" in options.systems:
        systems["bm25"] = BM25Baseline(index)
    if "dense" in options.systems:
        systems["dense"] = DenseBaseline(index, embedder)
    if "langchain" in options.systems:
        sources = scan_sources(sources_dir).sources
        systems["langchain"] = LangChainBaseline.build(
            sources, cfg.chunking, embedder, cache_dir=work, model_id=cfg.model,
            progress=lambda done, total: progress("langchain", done, total))

    rows: list[dict] = []
    rec_normal, rec_absent = [], []
    dense_normal, dense_absent = [], []
    qs = evalset.questions
    for n, q in enumerate(qs, 1):
        if "sanad" in options.systems:
            recorder.last = None
            answer = sanad.ask(q.question, q.history)
            ranking = m.dedupe(h.chunk.source_id for h in sanad.retrieve(q.question, q.history, k=2 * DEPTH // 3))
            rows.append(_row("sanad", q, _sanad_response(answer, tuple(ranking)), True))
            (rec_normal if q.answerable else rec_absent).append(recorder.last)
        for name, system in systems.items():
            r = system.respond(q.question)
            rows.append(_row(name, q, r, True))
            if name == "dense":
                (dense_normal if q.answerable else dense_absent).append(r.top_score)
        progress("ask", n, len(qs))

    n_absent = 0
    if evalset.format == "squad" and options.folds > 1 and "sanad" in options.systems:
        fold_of = folds_of([p.group for p in evalset.paragraphs], options.folds)
        if len(set(fold_of.values())) < 2:
            raise DatasetError("the refusal test needs at least two articles; use a larger --limit")
        by_fold: dict[int, list[EvalQuestion]] = {}
        for q in qs:
            by_fold.setdefault(fold_of[q.group], []).append(q)
        done = 0
        for f, fq in sorted(by_fold.items()):
            drop = [p.id for p in evalset.paragraphs if fold_of[p.group] == f]
            sub = index.without(drop)
            held = Sanad.over(sub, cfg, memo, recorder)
            dense = DenseBaseline(sub, memo)
            for q in fq:
                recorder.last = None
                answer = held.ask(q.question, q.history)
                rows.append(_row("sanad", q, _sanad_response(answer, ()), False))
                rec_absent.append(recorder.last)
                dense_absent.append(dense.respond(q.question).top_score)
                done += 1
                progress("refusal", done, len(qs))
        n_absent = len(qs)

    by_system: dict[str, list[dict]] = {}
    for r in rows:
        by_system.setdefault(r["system"], []).append(r)
    results = {s: summarize(by_system[s], index.sources, refuses=(s == "sanad"))
               for s in SYSTEMS if s in by_system}
    curves = {}
    if "sanad" in options.systems and rec_absent:
        for knob, values in CURVES.items():
            curves[f"sanad: {knob}"] = _curve(rec_absent, rec_normal, recorder.inner, knob, values)
        if dense_absent:
            curves["dense: top cosine"] = _score_curve(dense_absent, dense_normal, CURVES["min_dense"])
    counts = {"questions": len(qs), "answerable": sum(q.answerable for q in qs),
              "unanswerable": sum(not q.answerable for q in qs), "asked_absent": n_absent,
              "sources": len(index.sources), "chunks": len(index.chunks), "folds": options.folds}
    settings = {"model": cfg.model, "chunking": cfg.chunking.to_json(), "faiss": index.manifest.get("faiss"),
                "thresholds": recorder.inner.t.__dict__, "index_dir": str(cfg.index_dir),
                "index_build_s": round(build_s, 1), "embedded_chunks": report.embedded_chunks,
                "limit": options.limit, "systems": list(options.systems)}
    return EvalResult(evalset.name, evalset.format, counts, results, curves, rows, settings)


def work_dir_for(dataset: Path, cache_dir: Path) -> Path:
    """Where a dataset's sources and index live by default: one folder per
    dataset file, under the cache."""
    digest = hashlib.sha1(str(Path(dataset).resolve()).encode()).hexdigest()[:8]
    return Path(cache_dir) / "eval" / f"{Path(dataset).stem}-{digest}"
