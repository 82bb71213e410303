"""The evaluation harness behind ``rag eval``: Sanad and the baselines on one
dataset, in one run, with the same index, model and questions.

    result = evaluate(load_evalset(path), Config.load(), EvalOptions(work_dir=...))
    write_report(result, out_dir)          # rag/eval/report.py

For a SQuAD-format set, the paragraphs are written as sources into
``work_dir/sources`` and indexed into ``work_dir/index`` (never the main
index); rebuilding is incremental, so a rerun embeds nothing again. Every
question is asked once with its article present. To measure refusal, the
articles are split into ``folds`` groups; each question is asked again
against the index without its group's articles (Index.without), where the
right response is to refuse. SQuAD 2.0 sets (AAQAD) also have unanswerable
questions, asked with their own paragraph in the index; our JSONL set has
its own unanswerable questions.

Sanad's answer and what led to it come from one ``Sanad.run`` trace per
question: the ranking is the one the answer was drawn from, and the earlier
hand-set rules ("sanad-rules") decide on the very same evidence, so the
reader and the rules are compared on one run.
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

from ..index import index as ix
from . import metrics as m
from .baselines import BM25Baseline, Cited, DenseBaseline, LangChainBaseline, Response
from ..config import Config
from ..answer.decision import Decider, RuleDecider, decision_features, answer_threshold
from ..errors import DatasetError
from .evalsets import EvalQuestion, EvalSet
from ..pipeline import Sanad, Trace, make_decider
from ..answer.question import analyze
from ..index.build import build
from ..ingest.sources import MAX_TITLE_CHARS, FolderLoader, Loader, Source, SourceList
from ..text import is_verbatim

SYSTEMS = ("sanad", "sanad-rules", "bm25", "dense", "langchain")
KS = (1, 5, 10)
# Refusal curves: refuse when the decisive score (the reader's best
# probability; the dense baseline's top cosine) is under the threshold.
READER_CURVE = [round(0.05 * i, 2) for i in range(1, 20)]
DENSE_CURVE = [round(0.70 + 0.01 * i, 2) for i in range(26)]
REFUSED_AT = {"refusal.refused_at_5pct_false": 0.05, "refusal.refused_at_10pct_false": 0.10}
# The question words the report breaks results down by (rag/answer/question.py kinds).
KIND_WORDS = {"quantity": "كم", "time": "متى", "person": "من", "place": "أين", "what": "ما",
              "reason": "لماذا", "manner": "كيف", "yesno": "هل", "other": "other"}
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
    metrics: dict[str, dict[str, float | None]]  # system -> flat metric name -> value
    curves: dict[str, list[dict]]  # curve name -> [{threshold, refused_when_absent, false_refusals}]
    rows: list[dict] = field(repr=False)  # per question and system (answers.jsonl)
    settings: dict = field(default_factory=dict)
    by_kind: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # system -> kind -> metrics


class _MemoQueries:
    """The embedder with query vectors remembered: the refusal folds ask the
    same questions again and reuse what the first pass computed."""

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
def paragraph_sources(evalset: EvalSet) -> tuple[Source, ...]:
    """One source per paragraph of a SQuAD-format set, titled with its
    article: indexed straight from memory (``SourceList``), no files."""
    out = []
    # in the order a folder of "<id>.md" files was read before, so rankings (and ties) are as they were
    for p in sorted(evalset.paragraphs, key=lambda p: f"{p.id}.md"):
        text = p.text.replace("\r\n", "\n").replace("\r", "\n").strip()
        meta = {"title": p.group, "article": p.group}
        out.append(Source(p.id, (p.group.strip() or p.id)[:MAX_TITLE_CHARS * 2], text, f"{evalset.name}#{p.id}",
                          hashlib.sha256(f"{p.group}\n{text}".encode("utf-8")).hexdigest(), MappingProxyType(meta)))
    return tuple(out)


def folds_of(groups: list[str], k: int, seed: int = 13) -> dict[str, int]:
    """Articles -> fold number, shuffled reproducibly."""
    order = sorted(set(groups))
    random.Random(seed).shuffle(order)
    return {g: i % k for i, g in enumerate(order)}


# --------------------------------------------------------------------- runs
def _sanad_response(answer, ranking: tuple[str, ...], latency_ms: float | None = None) -> Response:
    return Response(ranking, answer.answer, answer.refused,
                    tuple(Cited(c.source, c.text, c.start, c.end) for c in answer.citations),
                    answer.timings_ms.get("total", 0.0) if latency_ms is None else latency_ms,
                    short=answer.short_answer.text if answer.short_answer else None, reason=answer.reason,
                    uncertain=answer.uncertain, related=tuple(c.text for c in answer.related))


def _rules_answer(trace: Trace, sanad: Sanad, rules: RuleDecider) -> tuple[object, float]:
    """The answer the earlier rules give on the trace's own evidence, and its
    latency (the run without the reader's time, plus the rules')."""
    if trace.question is None or not trace.evidence:
        return trace.answer, trace.timings_ms.get("total", 0.0)
    t0 = time.perf_counter()
    answer = sanad.composer.compose(trace.question, rules.decide(trace.question, trace.evidence))
    spent = (time.perf_counter() - t0) * 1000
    return answer, trace.timings_ms.get("total", 0.0) - trace.timings_ms.get("read", 0.0) + spent


def _row(system: str, q: EvalQuestion, r: Response, present: bool) -> dict:
    rank = m.rank_of(r.ranking, q.sources) if q.sources else None
    row = {"system": system, "id": q.id, "question": q.question, "present": present,
           "kind": analyze(q.question).kind, "impossible": q.impossible,
           "gold_answers": list(q.answers), "gold_sources": list(q.sources),
           "ranking": list(r.ranking[:10]), "rank": rank, "answer": r.answer, "refused": r.refused,
           "short_answer": r.short, "reason": r.reason, "uncertain": r.uncertain,
           "citations": [c.__dict__ for c in r.citations], "latency_ms": round(r.latency_ms, 2)}
    if q.answerable:
        row["contains_gold"] = (not r.refused) and m.contains_gold(r.answer, q.answers)
        row["f1"] = 0.0 if r.refused else round(m.token_f1(r.answer, q.answers), 4)
        row["cited_gold"] = any(m.contains_gold(c.text, q.answers) for c in r.citations)
        row["related_gold"] = any(m.contains_gold(text, q.answers) for text in r.related)
        short = r.short if (r.short and not r.refused) else ""
        row["short_f1"] = round(m.token_f1(short, q.answers), 4) if short else 0.0
        row["short_em"] = m.exact_match(short, q.answers) if short else False
    return row


def _verbatim(c: dict, sources: dict) -> bool:
    src = sources.get(c["source"])
    if src is None:
        return False
    if c["start"] < 0:  # no offsets given: it must at least occur in its source
        return c["text"] in src.text
    return is_verbatim(src.text, c["start"], c["end"], c["text"])


def summarize(rows: list[dict], sources: dict, refuses: bool) -> dict[str, float | None]:
    """The flat metrics of one system from its rows (both passes)."""
    present = [r for r in rows if r["present"]]
    answerable = [r for r in present if r["gold_answers"]]
    ranks = [r["rank"] for r in answerable if r["gold_sources"]]
    out: dict[str, float | None] = {}
    if ranks:
        for k in KS:
            out[f"retrieval.recall@{k}"] = m.recall_at(ranks, k)
        out["retrieval.mrr"] = m.mrr(ranks)
    if answerable:
        answered = [r for r in answerable if not r["refused"]]
        out["answer.contains_gold"] = sum(r["contains_gold"] for r in answerable) / len(answerable)
        out["answer.f1"] = sum(r["f1"] for r in answerable) / len(answerable)
        out["answer.answered"] = len(answered) / len(answerable)
        # of the answered; with nothing answered it is not measured (None), not 0
        out["citations.contains_gold"] = (sum(r["cited_gold"] for r in answered) / len(answered)
                                          if answered else None)
        if refuses:  # the systems that answer with a short span (Sanad)
            out["answer.short_f1"] = sum(r["short_f1"] for r in answerable) / len(answerable)
            out["answer.short_em"] = sum(r["short_em"] for r in answerable) / len(answerable)
    impossible = [r for r in present if r.get("impossible")]
    if refuses and impossible and answerable:  # SQuAD 2.0: answer the answerable, refuse the rest
        right_answered = sum(not r["refused"] for r in answerable)
        right_refused = sum(r["refused"] for r in impossible)
        out["answerability.accuracy"] = (right_answered + right_refused) / (len(answerable) + len(impossible))
        out["answerability.balanced_accuracy"] = (right_answered / len(answerable)
                                                  + right_refused / len(impossible)) / 2
    cites = [c for r in rows for c in r["citations"]]
    if cites:
        out["citations.verbatim"] = sum(_verbatim(c, sources) for c in cites) / len(cites)
    if refuses:
        absent = [r["refused"] for r in rows if not r["present"] or not r["gold_answers"]]
        normal = [r["refused"] for r in answerable]
        for key, value in m.refusal(absent, normal).items():
            out[f"refusal.{key}"] = value
        # answers marked uncertain, and how often each kind holds a gold answer (both passes: an
        # answer to an absent-article or unanswerable question holds none)
        given = [r for r in rows if not r["refused"]]
        unsure = [r for r in given if r.get("uncertain")]
        sure = [r for r in given if not r.get("uncertain")]
        out["answer.uncertain"] = len(unsure) / len(given) if given else None
        for key, part in (("answer.right_when_sure", sure), ("answer.right_when_uncertain", unsure)):
            out[key] = (sum(bool(r["present"] and r["gold_answers"] and r.get("contains_gold")) for r in part)
                        / len(part) if part else None)
        # an uncertain answer that misses the gold, to a question whose article is there: do the passages
        # offered beside it hold the gold?
        missed = [r for r in answerable if r.get("uncertain") and not r["refused"] and not r["contains_gold"]]
        out["answer.related_gold_when_uncertain_wrong"] = (sum(bool(r.get("related_gold")) for r in missed)
                                                          / len(missed) if missed else None)
    lat = [r["latency_ms"] for r in present]
    out["latency_ms.p50"] = m.percentile(lat, 50)
    out["latency_ms.p95"] = m.percentile(lat, 95)
    return out


def _score_curve(absent_scores, normal_scores, values) -> list[dict]:
    """Refuse when the top passage's score is below the threshold."""
    def share(scores, v):
        return sum(s is None or s < v for s in scores) / max(1, len(scores))
    return [{"threshold": v, "refused_when_absent": share(absent_scores, v),
             "false_refusals": share(normal_scores, v)} for v in values]


def by_kind(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per question kind (كم، متى، من...): how the answerable questions with
    their article present fared, and how many should-refuse rows were refused."""
    out: dict[str, dict[str, float]] = {}
    kinds = sorted({r["kind"] for r in rows}, key=list(KIND_WORDS).index)
    for kind in kinds:
        mine = [r for r in rows if r["kind"] == kind]
        ans = [r for r in mine if r["present"] and r["gold_answers"]]
        neg = [r for r in mine if not r["present"] or not r["gold_answers"]]
        cell: dict[str, float] = {"questions": len(ans)}
        if ans:
            cell["answered"] = sum(not r["refused"] for r in ans) / len(ans)
            cell["contains_gold"] = sum(r["contains_gold"] for r in ans) / len(ans)
            cell["short_f1"] = sum(r.get("short_f1", 0.0) for r in ans) / len(ans)
        if neg:
            cell["should_refuse"] = len(neg)
            cell["refused"] = sum(r["refused"] for r in neg) / len(neg)
        out[KIND_WORDS[kind]] = cell
    return out


def evaluate(evalset: EvalSet, config: Config, options: EvalOptions, embedder=None,
             progress: Progress | None = None, decider: Decider | None = None) -> EvalResult:
    from ..index.embedding import SentenceTransformerEmbedder

    progress = progress or (lambda stage, done, total: None)
    unknown = set(options.systems) - set(SYSTEMS)
    if unknown:
        raise DatasetError(f"unknown system(s): {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}")
    evalset = evalset.limited(options.limit)
    refusal_test = evalset.format == "squad" and options.folds > 1 and "sanad" in options.systems
    fold_of = folds_of([p.group for p in evalset.paragraphs], options.folds) if refusal_test else {}
    if refusal_test and len(set(fold_of.values())) < 2:  # one article; checked before the index is built
        which = ("this set's questions come" if not options.limit else "the first question comes"
                 if options.limit == 1 else f"the first {options.limit} questions come")
        raise DatasetError(f"the refusal test asks each question with its article removed, so it needs questions "
                           f"from two or more articles, and {which} from one: "
                           + ("take more with a larger --limit, or " if options.limit else "")
                           + "skip the test with --folds 1")
    embedder = embedder or SentenceTransformerEmbedder.from_config(config)
    work = Path(options.work_dir)
    loader: Loader
    if evalset.format == "squad":
        sources_dir = work / "sources"  # no such folder: the paragraphs are indexed from memory
        loader = SourceList(paragraph_sources(evalset))
    else:
        sources_dir = Path(options.sources_dir or config.sources_dir)
        loader = FolderLoader(sources_dir)
    cfg = config.with_values(sources_dir=sources_dir, index_dir=work / "index")
    t_build = time.perf_counter()
    report = build(cfg, embedder, loader=loader,
                   progress=lambda stage, done, total: progress("index", done, total))
    build_s = time.perf_counter() - t_build
    index = ix.load(cfg, check_sources=evalset.format != "squad")  # paragraphs: no folder to check
    if evalset.format == "jsonl":
        known = set(index.sources)
        missing = sorted({s for q in evalset.questions for s in q.sources} - known)
        if missing:
            raise DatasetError(f"the dataset names sources that are not in {sources_dir}: {', '.join(missing[:5])}")

    memo = _MemoQueries(embedder)
    decider = decider or make_decider(cfg)
    sanad = Sanad.over(index, cfg, memo, decider=decider)
    rules = RuleDecider(settings=sanad.settings)
    compare = "sanad-rules" in options.systems and "sanad" in options.systems and not isinstance(decider, RuleDecider)
    systems: dict[str, Any] = {}
    if "bm25" in options.systems:
        systems["bm25"] = BM25Baseline(index)
    if "dense" in options.systems:
        systems["dense"] = DenseBaseline(index, embedder)
    if "langchain" in options.systems:
        sources = loader.scan().sources
        systems["langchain"] = LangChainBaseline.build(
            sources, cfg.chunking, embedder, cache_dir=work, model_id=cfg.model,
            progress=lambda done, total: progress("langchain", done, total))

    rows: list[dict] = []
    score_normal: list[float | None] = []
    score_absent: list[float | None] = []
    dense_normal: list[float | None] = []
    dense_absent: list[float | None] = []
    qs = evalset.questions

    def ask(system: Sanad, q: EvalQuestion, present: bool) -> None:
        trace = system.run(q.question, q.history)
        ranking = tuple(m.dedupe(h.chunk.source_id for h in trace.hits)) if present else ()
        row = _row("sanad", q, _sanad_response(trace.answer, ranking), present)
        if trace.decision is not None and trace.decision.candidates and trace.question is not None:
            # what the calibration layer reads (rag/answer/calibration.py); `rag calibrate` fits on these
            row["features"] = {k: round(v, 5) for k, v in
                               decision_features(trace.question, trace.decision.candidates, trace.evidence,
                                                 system.settings).items()}
            if q.answerable:  # would answering from the best window be right? (what `rag calibrate` learns)
                best = max(trace.decision.candidates, key=lambda c: c.p)
                row["best_window_gold"] = m.contains_gold(best.text, q.answers)
        rows.append(row)
        if compare:
            answer, latency = _rules_answer(trace, system, rules)
            rows.append(_row("sanad-rules", q, _sanad_response(answer, ranking, latency), present))
        score = trace.decision.score if trace.decision.candidates else None
        if score is not None and trace.answer.refused and score >= answer_threshold(system.settings):
            # refused whatever the threshold: the best window's short answer has a form the question
            # rules out (decision.of_form), so on the refusal curve it counts as refused at every point
            score = None
        (score_normal if present and q.answerable else score_absent).append(score)

    for n, q in enumerate(qs, 1):
        if "sanad" in options.systems:
            ask(sanad, q, True)
        for name, system in systems.items():
            r = system.respond(q.question)
            rows.append(_row(name, q, r, True))
            if name == "dense":
                (dense_normal if q.answerable else dense_absent).append(r.top_score)
        progress("ask", n, len(qs))

    n_absent = 0
    if refusal_test:
        by_fold: dict[int, list[EvalQuestion]] = {}
        for q in qs:
            by_fold.setdefault(fold_of[q.group], []).append(q)
        done = 0
        for f, fq in sorted(by_fold.items()):
            drop = [p.id for p in evalset.paragraphs if fold_of[p.group] == f]
            sub = index.without(drop)
            held = Sanad.over(sub, cfg, memo, decider=decider)
            dense = DenseBaseline(sub, memo)
            for q in fq:
                ask(held, q, False)
                dense_absent.append(dense.respond(q.question).top_score)
                done += 1
                progress("refusal", done, len(qs))
        n_absent = len(qs)

    by_system: dict[str, list[dict]] = {}
    for r in rows:
        by_system.setdefault(r["system"], []).append(r)
    results = {s: summarize(by_system[s], index.sources, refuses=s.startswith("sanad"))
               for s in SYSTEMS if s in by_system}
    curves = {}
    if "sanad" in options.systems and score_absent and not isinstance(decider, RuleDecider):
        name = "sanad: decision score (calibrated when the reader has a calibration)"
        curves[name] = _score_curve(score_absent, score_normal, READER_CURVE)
        # the same curve read at issue 10's cost of false refusals, and at twice it; below the run's own
        # threshold it is exact, above it an estimate (the cascade would have read more windows)
        for key, cost in REFUSED_AT.items():
            results["sanad"][key] = m.refused_at(score_absent, score_normal, cost)
    if dense_absent:
        curves["dense: top cosine"] = _score_curve(dense_absent, dense_normal, DENSE_CURVE)
    kinds: dict[str, dict] = {s: by_kind(by_system[s]) for s in ("sanad", "sanad-rules") if s in by_system}
    counts = {"questions": len(qs), "answerable": sum(q.answerable for q in qs),
              "unanswerable": sum(not q.answerable for q in qs), "asked_absent": n_absent,
              "sources": len(index.sources), "chunks": len(index.chunks), "folds": options.folds}
    settings = {"model": cfg.model, "chunking": cfg.chunking.to_json(), "faiss": index.manifest.get("faiss"),
                "decider": getattr(decider, "name", "?"), "answer_settings": sanad.settings.to_json(),
                "index_dir": str(cfg.index_dir),
                "index_build_s": round(build_s, 1), "embedded_chunks": report.embedded_chunks,
                "limit": options.limit, "systems": list(options.systems)}
    return EvalResult(evalset.name, evalset.format, counts, results, curves, rows, settings, kinds)


def work_dir_for(dataset: Path, cache_dir: Path) -> Path:
    """Where a dataset's sources and index live by default: one folder per
    dataset file, under the cache."""
    digest = hashlib.sha1(str(Path(dataset).resolve()).encode()).hexdigest()[:8]
    return Path(cache_dir) / "eval" / f"{Path(dataset).stem}-{digest}"
