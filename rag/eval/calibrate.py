"""Fitting the calibration layer over a trained reader (``rag calibrate``):
the training files' questions asked through the whole pipeline, with their
article indexed and removed, and the layer fitted on those decisions
(``rag/answer/calibration.py``).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..errors import DatasetError
from .evalsets import read_squad
from ..ingest.sentences import split_sentences
from ..answer.settings import AnswerSettings
from .training_data import Progress, _locate, file_hash, held_titles, trained_seed

NEAR_MISSES = "-near-misses"  # the decisions of a file's near misses are filed under its name plus this


@dataclass(frozen=True)
class CalibrateOptions:
    data: tuple[Path, ...]  # the files the reader was trained on (their held-out articles are used)
    reader: Path  # the reader folder; its settings.json gains the calibration
    work_dir: Path  # index and sources of the held-out articles
    # must be the seed that chose the reader's held-out articles; None: the reader's own (``trained_seed``)
    seed: int | None = None
    max_questions: int = 400  # per file
    folds: int = 5
    # also the articles the reader was trained on (after the held-out ones), up to max_questions.
    # The reader is underfit enough that its scores there are barely better than on held-out
    # articles (ROC AUC 0.84 against 0.83; on ARCD train alone 0.85 against 0.90; EVALUATION.md),
    # so they are fair data. That holds for v5 (1.4 epochs), not for a reader trained 2.0 epochs
    # (ARCD train held out 0.90 against trained 0.95: EVALUATION.md, reader "v8").
    every_article: bool = False
    # also ask near misses made from each SQuAD v1 file (``near_miss_file``): questions whose
    # answer sentence was cut from their paragraph, with the rest of the article indexed
    near_misses: bool = False
    kind: str = "trees"  # or "logistic" (rag/answer/calibration.py)
    decisions: Path | None = None  # reuse the decisions of an earlier run instead of asking again
    without: tuple[str, ...] = ()  # features (rag/answer/calibration.py FEATURES) the layer does not read

    def training_seed(self) -> int:
        return self.seed if self.seed is not None else trained_seed(self.reader)


def heldout_file(path: Path, held: frozenset[str], max_questions: int, out: Path, every: bool = False
                 ) -> tuple[int, int]:
    """Write the held-out articles of a SQuAD file (titles in ``held``; whole
    articles, in file order, up to about ``max_questions`` questions) as a
    SQuAD file; with ``every``, the other articles follow them. Returns how
    many questions and articles it holds."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    articles = list(enumerate(doc.get("data", [])))
    order = sorted(articles, key=lambda a: _title(*a) not in held)
    keep, n = [], 0
    for a, article in order:
        if n >= max_questions or not (every or _title(a, article) in held):
            continue
        keep.append(article)
        n += sum(len(p.get("qas", [])) for p in article.get("paragraphs", []))
    out.write_text(json.dumps({"version": doc.get("version", ""), "data": keep}, ensure_ascii=False),
                   encoding="utf-8")
    return n, len(keep)


def near_miss_file(path: Path, seed: int, out: Path) -> int:
    """A SQuAD 2.0 file of near misses made from a SQuAD file: in each
    paragraph, one answerable question (chosen by the seed) has the sentence
    holding its answer cut out, and becomes unanswerable. Its article is
    still there and still about what it asks, as in a reader's near miss
    ("what colour is the Roadster?" asked of an article that never says).
    The paragraph's other questions stay, with their offsets moved, unless
    their answer was in the cut sentence. Returns how many near misses."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    rnd = random.Random(f"{seed}-near-{Path(path).name}")
    made = 0
    for article in doc.get("data", []):
        for para in article.get("paragraphs", []):
            context = para["context"]
            spans = split_sentences(context)
            located = []
            for qa in para["qas"]:
                first = next(iter(qa.get("answers") or []), None)
                loc = _locate(context, first["text"], int(first.get("answer_start", -1))) if first else None
                if loc and not qa.get("is_impossible"):
                    located.append((qa, loc))
            if not located or len(spans) < 2:
                continue
            chosen, (lo, _) = rnd.choice(located)
            cut = next(((a, b) for a, b in spans if a <= lo < b), None)
            if cut is None:
                continue
            a, b = cut
            while b < len(context) and context[b].isspace():
                b += 1  # the cut takes the space after the sentence with it
            if any(ans["text"].strip() in context[:a] + context[b:] for ans in chosen["answers"]):
                continue  # the answer is stated elsewhere too: not a near miss
            keep = []
            for qa in para["qas"]:
                if qa is chosen:
                    keep.append({**qa, "answers": [], "is_impossible": True, "plausible_answers": []})
                    continue
                moved = []
                for ans in qa.get("answers") or []:
                    loc = _locate(context, ans["text"], int(ans.get("answer_start", -1)))
                    if loc and (loc[1] <= a or loc[0] >= b):
                        moved.append({**ans, "answer_start": loc[0] if loc[1] <= a else loc[0] - (b - a)})
                if moved:
                    keep.append({**qa, "answers": moved})
            para["context"] = context[:a] + context[b:]
            para["qas"] = keep
            made += 1
    out.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return made


def read_decisions(path: Path) -> list[dict]:
    """The decisions ``collect_decisions`` wrote; a bad line is named."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                d = json.loads(line)
                # decisions collected before titles were embedded have no key: they had none
                out.append({"features": dict(d["features"]), "label": int(d["label"]), "file": str(d["file"]),
                            "group": str(d["group"]), "passage_title": bool(d.get("passage_title", False))})
            except (ValueError, KeyError, TypeError) as e:
                raise DatasetError(f"{path}, line {n}: not a decision record ({e})") from None
    if not out:
        raise DatasetError(f"{path} holds no decisions")
    return out


def _title(a: int, article: dict) -> str:
    return str(article.get("title") or f"article-{a}")


def collect_decisions(options: CalibrateOptions, progress: Progress | None = None,
                      log: Callable[[str], None] = print) -> tuple[list[dict], list[dict]]:
    """Ask the chosen articles of each training file through the whole
    pipeline, the reader reading every window (so the features are those of
    the full cascade, whatever it would have stopped at): each question with
    its article indexed and with it removed. Returns one record per decision
    (features, label, and what the label came from) and the files used; the
    records are also written to ``work_dir/decisions.jsonl``.

    The label is 1 when the question should be answered: its article is
    present, it is answerable, and the best window holds a gold answer (a
    decision to answer from a window without it gives a wrong answer)."""
    from ..config import Config
    from ..answer.decision import ReaderDecider
    from .evalsets import load
    from .evaluate import EvalOptions, evaluate
    from ..answer.reader import Reader

    reader = Reader(options.reader)
    reader.check()
    seed = options.training_seed()
    settings = AnswerSettings.load(options.reader)
    every_window = AnswerSettings.from_json({**settings.to_json(), "calibration": None,
                                             "first_windows": settings.windows})
    decider = ReaderDecider(reader, every_window)
    config = Config.load()
    decisions: list[dict] = []
    files = []
    for path in options.data:
        path = Path(path)
        work = Path(options.work_dir) / path.stem
        work.mkdir(parents=True, exist_ok=True)
        subset = work / f"{path.stem}-calibration.json"
        # drawn over the whole file, as training drew them (the subset may hold only these)
        held_articles = held_titles((p.article for p in read_squad(path)), seed)
        n, articles = heldout_file(path, held_articles, options.max_questions, subset, every=options.every_article)
        log(f"{path.name}: {n} questions")
        files.append({"file": path.name, "sha256": file_hash(path), "questions": n})
        if articles < 2:  # each question is asked with its article and without it, in folds by article
            raise DatasetError(
                f"{path}: {articles} {'held-out ' if not options.every_article else ''}article(s) to calibrate on, "
                "and asking each question without its article needs two or more"
                + (": add --every-article, or give questions from more articles" if not options.every_article
                   else ": give questions from more articles"))
        evalset = load(subset)
        passes = [(path.stem, evalset, work, options.folds)]
        if options.near_misses and not any(q.impossible for q in evalset.questions):
            # only for SQuAD v1 files: a SQuAD 2.0 file brings near misses of its own
            near = work / f"{path.stem}-near-misses.json"
            log(f"{path.name}: {near_miss_file(subset, seed, near)} near misses")
            passes.append((path.stem + NEAR_MISSES, load(near), work / "near-misses", 1))
        for name, evalset, folder, folds in passes:
            group = {q.id: q.group for q in evalset.questions}
            held = {q for q, g in group.items() if g in held_articles}
            result = evaluate(evalset, config, EvalOptions(work_dir=folder, systems=("sanad",), folds=folds),
                              progress=progress, decider=decider)
            for r in result.rows:
                if "features" not in r:
                    continue  # decided before the reader (not a question, nothing retrieved)
                answerable = r["present"] and not r["impossible"]
                decisions.append({"file": name, "id": r["id"], "group": group[r["id"]],
                                  "held_out": r["id"] in held, "present": r["present"],
                                  "impossible": r["impossible"], "kind": r["kind"],
                                  "label": int(answerable and r.get("best_window_gold", False)),
                                  "answerable": int(answerable), "passage_title": config.passage_title,
                                  "features": r["features"]})
    with open(Path(options.work_dir) / "decisions.jsonl", "w", encoding="utf-8") as f:
        for d in decisions:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return decisions, files


def calibrate(options: CalibrateOptions, progress: Progress | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Fit the calibration layer (rag/answer/calibration.py) on decisions about the
    training files (``collect_decisions``, or a saved ``decisions.jsonl``):
    trees or a logistic regression, with the threshold chosen on out-of-fold
    scores (folds by article): the middle of the thresholds within one
    standard error of the best balanced accuracy (``calibration.choose_threshold``), and
    the score below which an answer is marked uncertain (``calibration.sure_threshold``). Writes it
    into the reader's settings.json and its summary into the manifest;
    returns the summary."""
    from ..answer import calibration as cal

    # checked before the questions are asked, which takes a quarter of an hour
    if options.kind not in ("trees", "logistic"):
        raise DatasetError(f"unknown calibration kind {options.kind!r}; choose trees or logistic")
    unknown = sorted(set(options.without) - set(cal.FEATURES))
    if unknown:
        raise DatasetError(f"unknown feature(s) to leave out: {', '.join(unknown)}; "
                           f"choose from {', '.join(cal.FEATURES)}")
    seed = options.training_seed()
    settings = AnswerSettings.load(options.reader)
    if options.decisions:
        decisions = read_decisions(options.decisions)
        files = [{"decisions": Path(options.decisions).name, "sha256": file_hash(options.decisions),
                  "from": sorted({d["file"] for d in decisions})}]
    else:
        decisions, files = collect_decisions(options, progress, log)
    titled = {d["passage_title"] for d in decisions}
    if len(titled) > 1:
        raise DatasetError("the decisions mix indexes with and without passage titles; collect them again")
    fitted_titled = titled.pop()
    rows = [d["features"] for d in decisions]
    labels = [d["label"] for d in decisions]
    # folds by article; an article's near misses fold with its own questions
    groups = [f"{d['file'].removesuffix(NEAR_MISSES)}/{d['group']}" for d in decisions]
    names = tuple(n for n in cal.FEATURES if n not in options.without)
    fit_model = ((lambda r, y: cal.fit_trees(r, y, names, seed=seed)) if options.kind == "trees"
                 else (lambda r, y: cal.fit(r, y, names)))
    log(f"fitting on {len(rows)} decisions ({sum(labels)} to answer), {options.folds} folds by article")
    scores = cal.out_of_fold(rows, labels, groups, fit_model, options.folds)
    threshold, answered, refused = cal.choose_threshold(scores, labels, groups, seed=seed)
    top = cal.choose_threshold(scores, labels)[0]  # the curve's own best, recorded beside it
    sure = cal.sure_threshold(scores, labels, threshold)
    fitted = replace(fit_model(rows, labels), threshold=threshold, sure=sure)
    # the reader alone, for comparison: its best window's probability (p1 is stored as a logit)
    base_t, base_answered, base_refused = cal.choose_threshold([1 / (1 + math.exp(-r["p1"])) for r in rows], labels,
                                                               groups, seed=seed)
    AnswerSettings.from_json({**settings.to_json(), "calibration": fitted.to_json(),
                              "passage_title": fitted_titled}).save(options.reader)
    left_out = {"without": sorted(options.without)} if options.without else {}
    summary = {"kind": options.kind, "files": files, **left_out, "passage_title": fitted_titled,
               "examples": len(rows), "should_answer": sum(labels),
               "threshold": threshold, "threshold_rule": cal.THRESHOLD_RULE, "best_threshold": top,
               "sure": sure, "sure_rule": "below it, fewer than half the answers of its score should answer "
                                         "(a logistic fit over the answered decisions)",
               "answered": round(answered, 4), "refused": round(refused, 4),
               "balanced_accuracy": round((answered + refused) / 2, 4), "scores": "out of fold, by article",
               "reader_alone": {"threshold": base_t, "answered": round(base_answered, 4),
                                "refused": round(base_refused, 4),
                                "balanced_accuracy": round((base_answered + base_refused) / 2, 4)}}
    manifest_path = Path(options.reader) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["calibration"] = summary  # recorded beside the reader's own metrics (not a checked file)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return summary
