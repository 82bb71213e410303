"""The ``rag`` command: a thin shell over the library.

User mistakes end with one plain line on stderr and a non-zero exit, never a
traceback (set SANAD_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__  # noqa: F401
from .config import Config
from .errors import IndexStale, SanadError, SourceError

EXIT_USER_ERROR = 1


def _config(args: argparse.Namespace) -> Config:
    config = Config.load(sources_dir=args.sources, index_dir=args.index, model=args.model,
                         reader=getattr(args, "reader", None), ray_actors=getattr(args, "ray_actors", None),
                         llm_url=getattr(args, "llm_url", None), llm_model=getattr(args, "llm_model", None))
    ray = getattr(args, "ray", None)
    if ray is not None:  # --ray alone: SANAD_RAY_ADDRESS if set, else a private local instance
        config = config.with_values(ray_address=ray or config.ray_address or "local")
    return config


def _progress_bars(labels: dict[str, tuple[str, str]]):
    """A progress callback (stage, done, total) drawing one tqdm bar per
    stage named in ``labels`` ({stage: (description, unit)}); other stages
    are not shown."""
    from tqdm import tqdm

    bars: dict = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in labels:
            return
        bar = bars.get(stage)
        if bar is None or done < bar.n:  # a new run of the stage (e.g. the next file)
            desc, unit = labels[stage]
            bar = bars[stage] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def cmd_index(args: argparse.Namespace) -> int:
    from .index.embedding import SentenceTransformerEmbedder
    from .index.build import build

    config = _config(args)
    embedder = SentenceTransformerEmbedder.from_config(config)
    if args.watch is not None and args.watch <= 0:
        print(f"error: --watch wants a number of seconds above 0 (got {args.watch})", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.watch is None or args.full:  # with --watch, --full rebuilds everything once before watching
        report = build(config, embedder, full=args.full, progress=_progress_bars({"embed": ("Embedding", "article")}))
        _print_build(report)
    if args.watch is not None:
        return _watch(config, embedder, args.watch)
    return 0


def _watch(config: Config, embedder, interval: float) -> int:
    import signal
    import threading

    from .index.build import watch

    # Ctrl-C both raises KeyboardInterrupt (to cut a build short) and sets a flag the loop
    # checks every 0.2 s: an interrupt that lands in a finalizer is printed and swallowed by
    # Python ("Exception ignored in ..."), and then only the flag stops the loop (a test run
    # once kept watching 30 s after SIGINT).
    stopping = threading.Event()

    def interrupt(signum, frame):
        stopping.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    print(f"Watching {config.sources_dir} every {interval:g} s; Ctrl-C stops.", file=sys.stderr)
    try:
        watch(config, embedder, interval, stop=stopping.is_set, on_build=_print_build,
              on_error=lambda e: print(f"error: {e} (the previous index stays live; "
                                       "will try again when the sources change)", file=sys.stderr))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, previous)
    print("stopped watching", file=sys.stderr)
    return 0


def _print_build(report) -> None:
    for err in report.skipped:
        print(f"warning: skipped {err.path}: {err.reason}", file=sys.stderr)
    for dup, first in report.duplicates:
        print(f"warning: skipped {dup}: same content as {first}", file=sys.stderr)
    parts = [f"{len(report.embedded)} embedded", f"{len(report.reused)} unchanged"]
    if report.removed:
        parts.append(f"{len(report.removed)} removed")
    print(f"Indexed {report.sources} sources ({', '.join(parts)}), {report.chunks} chunks "
          f"in {report.seconds:.1f} s -> {report.path}", flush=True)


def cmd_status(args: argparse.Namespace) -> int:
    from .index.index import current_generation, load

    config = _config(args)
    index = load(config)  # raises IndexMissing / IndexStale / IndexCorrupt with the details
    m = index.manifest
    print(f"index:   {config.index_dir} ({current_generation(config.index_dir).name}, built {m['created_at']})")
    print(f"model:   {m['embedding']['model']} ({m['embedding']['dim']} dimensions)")
    print(f"chunks:  {len(index.chunks)} from {len(index.sources)} sources "
          f"(size {m['chunking']['size']}, overlap {m['chunking']['overlap']})")
    print("status:  up to date with the configuration and the sources")
    return 0


def _print_answer(answer) -> None:
    if answer.truncated:
        print("note: the question was longer than 1000 characters; only its start was used", file=sys.stderr)
    if answer.uncertain:
        from .answer.compose import UNCERTAIN

        print(f"({UNCERTAIN})")
    print(answer.answer)
    if answer.citations:
        print("\nالمصادر:")
        for c in answer.citations:
            print(f"[{c.n}] {c.title} ({c.source}, {c.start}-{c.end})")
    if answer.related:
        print("\nقد يهمك (مقاطع قريبة، وليست إجابة):" if answer.refused else "\nمقاطع أخرى قد تجيب عن سؤالك:")
        for c in answer.related:
            print(f"- {c.title} ({c.source}): {c.text}")


def _ask_jsonl(sanad, stream, llm: bool = False) -> int:
    failed = 0
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("question"), str):
                raise ValueError('expected an object with a "question" string')
        except ValueError as e:
            failed += 1
            print(json.dumps({"id": None, "error": f"line {n}: {e}"}, ensure_ascii=False), flush=True)
            continue
        history = row["history"] if isinstance(row.get("history"), list) else []
        answer = sanad.ask(row["question"], [str(h) for h in history], llm=llm)
        print(json.dumps({"id": row.get("id"), **answer.to_json()}, ensure_ascii=False), flush=True)
    if failed:
        print(f"error: {failed} line(s) could not be read; see the \"error\" objects in the output", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import Sanad

    config = _config(args)
    if args.jsonl is None and not (args.question or "").strip():
        print("error: the question is empty (give one, or use --jsonl)", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.llm and not config.llm_url:
        print("error: --llm needs an LLM endpoint: set SANAD_LLM_URL (e.g. http://127.0.0.1:8080/v1) "
              "or give --llm-url", file=sys.stderr)
        return EXIT_USER_ERROR
    sanad = Sanad(config)
    sanad.warm_up()  # fail early, with the index's own message; timings then exclude loading
    if args.jsonl is not None:
        if args.jsonl == "-":
            return _ask_jsonl(sanad, sys.stdin, args.llm)
        with open(args.jsonl, encoding="utf-8") as f:
            return _ask_jsonl(sanad, f, args.llm)
    answer = sanad.ask(args.question, args.history or [], llm=args.llm)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


EVAL_STAGES = {"index": ("Indexing", "chunk"), "langchain": ("LangChain store", "chunk"),
               "ask": ("Asking", "q"), "refusal": ("Article left out", "q")}


def cmd_eval(args: argparse.Namespace) -> int:
    import shlex

    from .eval.evalsets import load as load_evalset
    from .eval.evaluate import SYSTEMS, EvalOptions, evaluate, work_dir_for
    from .eval.report import eval_summary, write_report

    config = Config.load(model=args.model, reader=args.reader)
    dataset = load_evalset(args.dataset)  # DatasetError: one line, before the model loads
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return EXIT_USER_ERROR
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip()) if args.systems else SYSTEMS
    options = EvalOptions(work_dir=args.work or work_dir_for(args.dataset, config.cache_dir), systems=systems,
                          folds=args.folds, limit=args.limit, sources_dir=args.sources)
    out = args.out or os.path.join("eval-results", dataset.name + (f"-limit{args.limit}" if args.limit else ""))
    result = evaluate(dataset, config, options, progress=_progress_bars(EVAL_STAGES))
    command = "rag " + " ".join(shlex.quote(a) for a in args.argv)
    report = write_report(result, Path(out), command=command)
    print(eval_summary(result.metrics, [s for s in SYSTEMS if s in result.metrics]))
    print(f"report: {report}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .eval.compare import changes, load_run, metric_deltas, overlap

    old, new = load_run(args.old), load_run(args.new)
    if args.system not in old.metrics or args.system not in new.metrics:
        have = sorted(set(old.metrics) & set(new.metrics))
        print(f"error: system {args.system!r} is not in both runs (both have: {', '.join(have) or 'none'})",
              file=sys.stderr)
        return EXIT_USER_ERROR
    shared, only_old, only_new = overlap(old, new, args.system)
    if not shared and (only_old or only_new):
        print(f"error: the two runs asked no question in common ({only_old} and {only_new} questions): "
              "runs of different sets; compare two runs of the same set", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"{args.system}: {old.folder} -> {new.folder}")
    if only_old or only_new:
        print(f"note: {shared} questions in both runs, {only_old} only in the first and {only_new} only in the "
              "second (another --limit or set version?): the metrics below are over different questions")
    for label, a, b in metric_deltas(old, new, args.system):
        delta = f"{b - a:+.3f}" if a is not None and b is not None else ""
        print(f"  {label:36}{'-' if a is None else round(a, 3):>9} {'-' if b is None else round(b, 3):>9} {delta:>8}")
    moved = changes(old, new, args.system)
    worse, better = sum(c.better is False for c in moved), sum(c.better is True for c in moved)
    print(f"{len(moved)} questions changed: {better} now right, {worse} now wrong, "
          f"{len(moved) - better - worse} neither")
    shorts = [c for c in moved if c.short_f1 is not None]
    if shorts:
        print(f"{len(shorts)} answerable questions changed their short answer: "
              f"{sum(c.short_gain > 0 for c in shorts)} with more short F1, {sum(c.short_gain < 0 for c in shorts)} "
              f"with less")
    for c in moved[: args.most]:
        mark = {True: "+", False: "-", None: "~"}[c.better]
        where = "" if c.present else " (article removed)"
        short = "" if c.short_f1 is None else f" (short F1 {c.short_f1[0]:.2f} -> {c.short_f1[1]:.2f})"
        print(f"  {mark} {c.id}{where}: {c.before} -> {c.after}{short}\n      {c.question}")
    if len(moved) > args.most:
        print(f"  ... and {len(moved) - args.most} more (--most N)")
    return 0


# The data the committed reader was trained on (rag/models/reader/MODEL_CARD.md).
READER_DATA = ("../shared/datasets/arcd-train.json", "../shared/datasets/aaqad-train.json")
# span-loss weights of known files: AAQAD is machine-translated and its spans are noisy (datasets README)
NOISY_SPANS = {"aaqad-train": 0.3}


def _training_files(args: argparse.Namespace) -> tuple[Path, ...] | None:
    """--data, or the shipped reader's files; None (after a message) if one is missing."""
    data = tuple(Path(d) for d in (args.data or READER_DATA))
    for d in data:
        if not d.is_file():
            print(f"error: {d}: no such file", file=sys.stderr)
            return None
    stems = [d.stem for d in data]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:  # per-file options (--repeat, --span-weight) and calibrate's work folders go by this name
        print(f"error: --data names more than one file called {twice[0]}.json; files are told apart by name "
              "(--repeat, --span-weight), so give each its own", file=sys.stderr)
        return None
    return data


def cmd_train_reader(args: argparse.Namespace) -> int:
    from .eval.train_reader import TrainOptions, train

    data = _training_files(args)
    if data is None:
        return EXIT_USER_ERROR
    weights = {}
    for item in args.span_weight or ():
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            print(f"error: --span-weight wants NAME=NUMBER (got {item!r})", file=sys.stderr)
            return EXIT_USER_ERROR
    repeat = {}
    for item in args.repeat or ():
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1:
            print(f"error: --repeat wants NAME=TIMES, a whole number of at least 1 (got {item!r})", file=sys.stderr)
            return EXIT_USER_ERROR
        repeat[name] = int(value)
    if not 0 <= args.lora_dropout < 1:
        print(f"error: --lora-dropout wants a probability from 0 up to 1 (got {args.lora_dropout})", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.attention_dropout is not None and not 0 <= args.attention_dropout < 1:
        print(f"error: --attention-dropout wants a probability from 0 up to 1 (got {args.attention_dropout})",
              file=sys.stderr)
        return EXIT_USER_ERROR
    if args.keep_spans < 0:
        print(f"error: --keep-spans wants a weight of at least 0 (got {args.keep_spans})", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.keep_spans and not args.init:
        print("error: --keep-spans keeps the spans of the reader named by --init; name one", file=sys.stderr)
        return EXIT_USER_ERROR
    if not 0 <= args.frozen_layers < 12:  # multilingual-e5-small has 12 blocks
        print(f"error: --frozen-layers wants a number of blocks from 0 to 11 (got {args.frozen_layers})",
              file=sys.stderr)
        return EXIT_USER_ERROR
    for name in NOISY_SPANS:
        if any(d.stem == name for d in data):
            # whether named by --data or by default: a recipe should not change with how its files were named
            weights.setdefault(name, NOISY_SPANS[name])
    options = TrainOptions(data=data, out=Path(args.out), seed=args.seed, epochs=args.epochs,
                           batch_size=args.batch_size, span_weight=weights, max_examples=args.max_examples,
                           max_holdout=args.max_holdout, lr=args.lr, cut=args.cut_negatives, repeat=repeat,
                           distract=args.distractors, swap=args.swap_names, attribute=args.swap_attribute,
                           init=args.init, precision=args.precision, lora_dropout=args.lora_dropout,
                           frozen_layers=args.frozen_layers, attention_dropout=args.attention_dropout,
                           keep_spans=args.keep_spans, numpy_masks=args.numpy_masks,
                           token_buckets=args.token_buckets)
    bars = _progress_bars({"train": ("Training", "batch"), "held-out": ("Held-out questions", "q")})
    manifest = train(options, progress=bars, log=lambda line: print(line, file=sys.stderr))
    m = manifest["metrics"]
    if m["balanced_accuracy"] is None:
        print(f"threshold {manifest['threshold']}, the default: the held-out questions gave {m['answerable']} "
              f"decision(s) to answer and {m['should_refuse']} to refuse, and choosing a threshold needs both "
              f"(give questions from two or more articles) ({m['train_seconds']} s training)")
    else:
        print(f"threshold {manifest['threshold']}: held-out answered {m['answered']}, refused {m['refused']}, "
              f"balanced accuracy {m['balanced_accuracy']}, span F1 {m['span_f1_from_gold_window']} "
              f"({m['train_seconds']} s training)")
    print(f"reader: {args.out}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .eval.calibrate import CalibrateOptions, calibrate

    # a refit from saved decisions reads no training file, so it needs none on this machine
    data = _training_files(args) if not args.decisions else tuple(args.data or ())
    if data is None:
        return EXIT_USER_ERROR
    work = args.work or Config.load().cache_dir / "calibrate"
    options = CalibrateOptions(data=data, reader=Path(args.reader), work_dir=work, seed=args.seed,
                               max_questions=args.max_questions, every_article=args.every_article,
                               kind=args.kind, decisions=args.decisions, near_misses=args.near_misses,
                               without=tuple(args.without or ()))
    bars = _progress_bars({"ask": ("Held-out questions", "q"), "refusal": ("... article removed", "q"),
                           "index": ("Indexing", "chunk")})
    if args.decisions and not args.decisions.is_file():
        print(f"error: {args.decisions} does not exist", file=sys.stderr)
        return EXIT_USER_ERROR
    s = calibrate(options, progress=bars, log=lambda line: print(line, file=sys.stderr))
    r = s["reader_alone"]
    print(f"calibrated on {s['examples']} decisions: threshold {s['threshold']} (the curve's best "
          f"{s['best_threshold']}), answered {s['answered']}, refused {s['refused']} "
          f"(balanced accuracy {s['balanced_accuracy']}; the reader alone {r['balanced_accuracy']})"
          + (f"; answers scored below {s['sure']} are marked uncertain" if s["sure"] is not None else ""))
    print(f"settings: {Path(args.reader) / 'settings.json'}")
    return 0


def _add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", metavar="DIR", help="sources folder (default: sources, or $SANAD_SOURCES)")
    parser.add_argument("--index", metavar="DIR", help="index folder (default: index, or $SANAD_INDEX)")
    parser.add_argument("--model", metavar="NAME", help="embedding model: a sentence-transformers name or "
                                                        "folder (default: the embedded multilingual-e5-small)")


def _add_reader_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reader", metavar="DIR|rules",
                        help="who decides to answer: a reader folder from `rag train-reader`, or 'rules' for the "
                             "earlier thresholds (default: the shipped reader, or $SANAD_READER)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Sanad: grounded answers from Arabic news articles.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    ix = sub.add_parser("index", help="build or update the index from the sources folder",
                        description="Build the index from the sources folder. Unchanged sources are "
                                    "not embedded again; removed sources disappear from the index.")
    ix.add_argument("--full", action="store_true",
                    help="rebuild everything from scratch (with --watch: once, before watching)")
    ix.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="embed on a Ray cluster: 'local' (a private instance, the default), 'auto' (the "
                         "cluster running here) or HOST:PORT of its head; also SANAD_RAY_ADDRESS. "
                         "Needs the extra: pip install -e '.[ray]'")
    ix.add_argument("--watch", nargs="?", const=5.0, type=float, metavar="SECONDS",
                    help="keep running and rebuild whenever a source file is added, changed or removed "
                         "(checked every SECONDS, default 5; reads only files whose size or time changed)")
    ix.add_argument("--ray-actors", type=int, metavar="N",
                    help="embedding actors on the cluster (default: one per CPU)")
    _add_location_options(ix)
    ix.set_defaults(func=cmd_index)
    st = sub.add_parser("status", help="check the index against the configuration and the sources",
                        description="Say whether the index is up to date; exit 1 with each problem if not.")
    _add_location_options(st)
    st.set_defaults(func=cmd_status)
    ask = sub.add_parser("ask", help="answer a question from the sources, with citations",
                         description="Answer in Arabic from the indexed sources, quoting and citing them, "
                                     "or say that the sources do not contain the answer.")
    ask.add_argument("question", nargs="?", help="the question (Arabic or English)")
    out = ask.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--jsonl", nargs="?", const="-", metavar="FILE",
                     help='read JSON lines {"id", "question"} from FILE (or stdin) and write one JSON '
                          "object per line")
    ask.add_argument("--history", action="append", metavar="QUESTION",
                     help="an earlier question of the conversation (repeat, oldest first)")
    ask.add_argument("--llm", action="store_true",
                     help="let the configured LLM write the answer; every sentence is verified against the "
                          "passages it cites, and the quoted answer is given when none holds")
    ask.add_argument("--llm-url", metavar="URL",
                     help="OpenAI-compatible endpoint (default: $SANAD_LLM_URL; the key goes in $SANAD_LLM_API_KEY)")
    ask.add_argument("--llm-model", metavar="NAME", help="the model to ask for (default: $SANAD_LLM_MODEL)")
    _add_location_options(ask)
    _add_reader_option(ask)
    ask.set_defaults(func=cmd_ask)
    ev = sub.add_parser("eval", help="measure Sanad and baselines on a question set",
                        description="Evaluate Sanad beside BM25, dense and LangChain baselines on DATASET: "
                                    "SQuAD v1.1 JSON (ARCD, TyDi QA, MLQA...; its paragraphs are indexed "
                                    "separately) or our JSON lines (eval/dev.jsonl, asked against --sources). "
                                    "Writes report.md, metrics.json, answers.jsonl and plots.")
    ev.add_argument("dataset", type=Path, help="a SQuAD v1.1 .json file or a .jsonl development set")
    ev.add_argument("--out", metavar="DIR", help="output folder (default: eval-results/<dataset>)")
    ev.add_argument("--limit", type=int, metavar="N", help="only the first N questions (and their articles)")
    ev.add_argument("--folds", type=int, default=5, metavar="K",
                    help="folds over articles for the refusal test (default 5; 1 skips it)")
    ev.add_argument("--systems", metavar="LIST", help="comma-separated subset of sanad,bm25,dense,langchain")
    ev.add_argument("--work", type=Path, metavar="DIR",
                    help="where the dataset's sources and index go (default: a folder in the cache)")
    ev.add_argument("--sources", type=Path, metavar="DIR", help="JSON-lines sets: the articles (default: sources)")
    ev.add_argument("--model", metavar="NAME", help="embedding model (default: the embedded multilingual-e5-small)")
    _add_reader_option(ev)
    ev.set_defaults(func=cmd_eval)
    cm = sub.add_parser("compare", help="two rag eval runs side by side: metrics and the questions that changed",
                        description="Compare two `rag eval` output folders of the same question set: each "
                                    "metric before and after, and every question whose outcome changed "
                                    "(refused, answered with or without the gold, the short answer), the "
                                    "ones now wrong first.")
    cm.add_argument("old", type=Path, help="the earlier run's folder (its metrics.json and answers.jsonl)")
    cm.add_argument("new", type=Path, help="the later run's folder")
    cm.add_argument("--system", default="sanad", help="which system's results (default: sanad)")
    cm.add_argument("--most", type=int, default=40, metavar="N", help="list at most N changed questions")
    cm.set_defaults(func=cmd_compare)
    tr = sub.add_parser("train-reader", help="train the reader that decides to answer or refuse",
                        description="Train the reader (LoRA on multilingual-e5-small, answerability and "
                                    "span heads) on SQuAD v1.1/2.0 files, choose its threshold on held-out "
                                    "articles and write the adapter, heads and manifest to --out.")
    tr.add_argument("--data", type=Path, nargs="+", metavar="FILE",
                    help="SQuAD-format training files (default: ARCD train and AAQAD train from ../shared/datasets)")
    tr.add_argument("--out", default="rag/models/reader", metavar="DIR",
                    help="where the reader goes (default: rag/models/reader, the one Sanad uses)")
    tr.add_argument("--seed", type=int, default=13,
                    help="seeds the run's draws and chooses the held-out articles (default 13); with --init, "
                         "the articles its reader held out stay held out")
    tr.add_argument("--epochs", type=float, default=1.0)
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--lr", type=float, default=3e-4, help="LoRA learning rate (the heads learn at 3x)")
    tr.add_argument("--max-examples", type=int, metavar="N", help="train on a seeded sample of N examples")
    tr.add_argument("--max-holdout", type=int, default=500, metavar="N", help="held-out questions to score")
    tr.add_argument("--span-weight", action="append", metavar="STEM=W",
                    help="span-loss weight of a file, by its name without .json (default: "
                         "aaqad-train=0.3, machine-translated spans; others 1)")
    tr.add_argument("--init", type=Path, metavar="DIR",
                    help="start from this trained reader's adapter and heads (e.g. rag/models/reader) instead of "
                         "fresh ones: further training on your own questions")
    tr.add_argument("--keep-spans", type=float, default=0.0, metavar="W",
                    help="with --init: weight of a loss keeping the span head's answers near the --init "
                         "reader's while training further (default 0: off)")
    tr.add_argument("--cut-negatives", action="store_true",
                    help="also train on each answer's window with the answer's sentence cut out, as a non-answer")
    tr.add_argument("--swap-names", action="store_true",
                    help="also train on each answer's window with the question's rarest name swapped for "
                         "another, as a non-answer")
    tr.add_argument("--swap-attribute", action="store_true",
                    help="also train on each question with the attribute it asks for (عدد، سعر، لون، اسم…) swapped "
                         "for one its paragraph never mentions, against its answer's window, as a non-answer")
    tr.add_argument("--distractors", action="store_true",
                    help="also train on each answer's window with another article's look-alike sentence put "
                         "beside the answer (still an answer): echoing the question's words is not answering")
    tr.add_argument("--repeat", action="append", metavar="STEM=N",
                    help="use a file's examples N times an epoch (e.g. arcd-train=3: a small clean set weighs more)")
    tr.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                    help="arithmetic of training: bf16 is ~1.5x faster where the CPU has bfloat16 instructions; "
                         "auto (default) uses it there and fp32 elsewhere (where bf16 is emulated, >10x slower)")
    tr.add_argument("--lora-dropout", type=float, default=0.0, metavar="P",
                    help="dropout on the LoRA adapters' inputs (default 0: drawing its masks took about a quarter "
                         "of training's time; the encoder's own dropout stays)")
    tr.add_argument("--frozen-layers", type=int, default=0, metavar="K",
                    help="no adapters in the encoder's lowest K of 12 blocks: backward stops above them "
                         "(K=4: ~1.2x faster; default 0)")
    tr.add_argument("--attention-dropout", type=float, metavar="P",
                    help="dropout on attention probabilities while training (default: the base model's 0.1; "
                         "0 is ~1.25x faster in fp32)")
    tr.add_argument("--numpy-masks", action="store_true",
                    help="draw dropout masks with numpy instead of torch: the same dropout, ~1.2x faster with "
                         "v5's LoRA dropout in fp32, but another random draw than without it")
    tr.add_argument("--token-buckets", action="store_true",
                    help="batch examples of alike length in tokens, not characters: less padding (15 %% of "
                         "the tokens by characters), but other batches than without it")
    tr.set_defaults(func=cmd_train_reader)
    ca = sub.add_parser("calibrate", help="fit the calibration layer over a trained reader",
                        description="Ask the held-out articles of the reader's training files through the "
                                    "whole pipeline (article present and removed), fit gradient-boosted trees "
                                    "(or a logistic regression) over the reader's scores and the retrieval's "
                                    "signals, choose the threshold on out-of-fold scores, and store both in "
                                    "the reader's settings.json. The decisions are saved in the work folder "
                                    "as decisions.jsonl.")
    ca.add_argument("--data", type=Path, nargs="+", metavar="FILE",
                    help="the reader's training files (default: ARCD train and AAQAD train)")
    ca.add_argument("--reader", default="rag/models/reader", metavar="DIR",
                    help="the reader folder (default: rag/models/reader)")
    ca.add_argument("--seed", type=int, default=None,
                    help="the seed that chose the reader's held-out articles (default: its manifest's "
                         "held_out_seed, or its seed where that is not recorded)")
    ca.add_argument("--max-questions", type=int, default=400, metavar="N", help="questions per file")
    ca.add_argument("--every-article", action="store_true",
                    help="after the held-out articles, also ask the ones the reader was trained on")
    ca.add_argument("--near-misses", action="store_true",
                    help="also ask questions whose answer sentence is cut from their paragraph (must refuse; "
                         "made from the SQuAD v1 files, which have no unanswerable questions)")
    ca.add_argument("--kind", choices=("trees", "logistic"), default="trees", help="the model (default: trees)")
    ca.add_argument("--decisions", type=Path, metavar="FILE",
                    help="fit on the decisions.jsonl of an earlier run instead of asking again")
    ca.add_argument("--without", nargs="+", metavar="FEATURE",
                    help="features the layer does not read (e.g. dense max_dense: a cosine's scale depends on the "
                         "corpus)")
    ca.add_argument("--work", type=Path, metavar="DIR", help="where the held-out index goes (default: the cache)")
    ca.set_defaults(func=cmd_calibrate)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except SourceError as e:
        print(f"error: {e.path}: {e.reason}", file=sys.stderr)
    except IndexStale as e:
        print("error: the index is out of date; run 'rag index' to update it:", file=sys.stderr)
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
    except SanadError as e:
        print(f"error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted; the previous index is unchanged", file=sys.stderr)
        return 130
    except OSError as e:
        if os.environ.get("SANAD_DEBUG"):
            raise
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
    return EXIT_USER_ERROR


def run() -> None:
    """Console entry point. Once torch is loaded, interpreter shutdown spends
    ~2 s tearing down its objects (measured on the 2-core machine); every
    file we wrote is already fsynced, so exit at once after flushing."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if "torch" in sys.modules:
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
