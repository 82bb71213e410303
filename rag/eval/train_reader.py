"""Training the reader (``rag train-reader``): examples from SQuAD-format
files, LoRA training on the CPU, a threshold chosen on held-out questions,
and the artifact written with its manifest.

Examples are (question, window, label, span):

* the window holding the gold answer (label 1, with the span);
* for answerable questions, a hard negative: the window of the same paragraph
  that shares most words with the question but not the answer, or the best
  BM25 window of another article (label 0);
* SQuAD 2.0 unanswerable questions: the window around the "plausible" answer,
  the near miss a careless reader would give (label 0);
* optionally (``cut``, clean files only), the gold window with the answer's sentence cut out: its
  neighbours still name what the question names, but not the thing asked
  (label 0), the near miss that lexical coverage alone cannot tell apart;
* optionally (``distract``), the gold window again with a distractor put beside the answer's
  sentence: the sentence of another article that shares most words with the question (label 1,
  the same answer). A sentence that echoes the question's words but not what it is about must
  not take the answer (Jia and Liang, "Adversarial Examples for Evaluating Reading
  Comprehension Systems", 2017, AddSent; "كم ضخت إنفيديا في جولة تمويل xAI؟" was answered with
  the round's total, from the sentence before the one naming Nvidia's share);
* optionally (``swap``), the gold window with the name the question asks about swapped for
  another article's (label 0): a sum paid by someone else is no answer to "كم دفعت G42؟".
* optionally (``attribute``), the question with the attribute it asks for (عدد، سعر، لون، اسم،
  رئيس…) swapped for one its paragraph never mentions, against its answer's window (label 0):
  the window still names everything but the thing asked, as "ما سعر سيارة رودستر؟" against the
  sentence of its reservation fee (development set u46).

``swap`` is in the shipped reader's second training (v9: 300 batches from v5, which refused more
absent-article questions on every public set; EVALUATION.md, "Reader v9"). A short training from
v5 with ``distract`` or ``attribute`` fixed none of the failures it was made for (EVALUATION.md,
2026-12-04).

One article in ``HOLDOUT`` (by a seeded hash of its title) is held out of
every file, and at least one of a file with two or more; its questions
choose the threshold and give the manifest's metrics. Training is seeded; the same data, seed and machine give the same
artifact.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..answer import reader as rd
from ..index.bm25 import BM25
from ..errors import DatasetError, ReaderError
from .evalsets import read_squad
from .metrics import token_f1
from ..ingest.sentences import split_sentences
from ..answer.settings import AnswerSettings
from ..text import normalize, tokenize

NEAR_MISSES = "-near-misses"  # the decisions of a file's near misses are filed under its name plus this
HOLDOUT = 10  # one article in ten is held out
OTHER_DEPTH = 4  # windows of other articles that stand in for "the article is absent"
# Why an answerable question gives no example (examples_from's ``skipped``), for the log.
SKIPPED = {"no_answer": "no answer text and not marked is_impossible",
           "not_found": "an answer not found in its paragraph",
           "across": "an answer across more than one window"}
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Example:
    qid: str
    question: str
    window: str
    label: int
    span: tuple[int, int] | None  # character offsets into the window, for label 1
    kind: str  # "answer" | "same" (same paragraph) | "other" (another article) | "impossible" | "cut"
    # | "distract" (an answer with a distractor beside it) | "swap" (the asked name swapped out)
    # | "attribute" (the question asks for an attribute the paragraph never gives)
    weight: float = 1.0  # of the span loss


@dataclass(frozen=True)
class HeldQuestion:
    """A held-out question with every window a decision for it would read."""

    qid: str
    question: str
    answerable: bool
    windows: tuple[str, ...]  # own paragraph's windows
    gold: tuple[str, ...]  # gold answers
    gold_window: int | None  # which window holds the answer
    absent: tuple[str, ...]  # the best windows of other articles


@dataclass(frozen=True)
class TrainOptions:
    data: tuple[Path, ...]
    out: Path
    seed: int = 13
    epochs: float = 1.0
    batch_size: int = 16
    # LoRA; the heads learn at 3x this. The shipped reader is somewhat underfit at 3e-4 (its
    # probabilities on its own training windows average 0.63 for answers, 0.33-0.43 for the rest),
    # but 1e-3 on 9,000 examples was no better held out (balanced accuracy 0.686 against 0.680)
    # and worse on the development set (MODEL_CARD.md)
    lr: float = 3e-4
    span_weight: dict = field(default_factory=dict)  # file stem -> span-loss weight (noisy spans weigh less)
    max_examples: int | None = None
    max_holdout: int = 500  # held-out questions scored for the threshold
    rank: int = 16
    alpha: int = 32
    threads: int | None = None
    cut: bool = False  # also the gold window with the answer's sentence cut out, as a negative
    swap: bool = False  # also the gold window with the question's rarest name swapped out, as a negative
    distract: bool = False  # also the gold window with another article's look-alike sentence beside the answer
    attribute: bool = False  # also the question asking another attribute than its own, as a negative
    repeat: dict = field(default_factory=dict)  # file stem -> times its examples are used per epoch
    init: Path | None = None  # start from this trained reader's adapter and heads, not from fresh ones
    # With ``init``: the weight of a loss that keeps the span head's start and end distributions
    # near the init reader's on every window (KL divergence, as in Hinton et al. 2015, "Distilling
    # the knowledge in a neural network"), so that further training on new negatives moves the
    # decision more than the short answers. v9 (no such loss) answered TyDi's questions with spans
    # that drifted longer: short F1 0.542 -> 0.532, development-set EM 0.451 -> 0.418. With weight 1
    # it kept v5's decisions too, so it is off in `make train` (EVALUATION.md, "Keeping v5's spans").
    keep_spans: float = 0.0
    # "bf16": the encoder's matrix products in bfloat16 (torch autocast), 1.45x the batches/s of
    # fp32 on the 2-core EPYC (0.42 against 0.29 on real batches of 16, EVALUATION.md "Reader v6");
    # "auto" takes it where the CPU computes bfloat16 natively (AVX512-BF16 or AMX) and fp32 elsewhere,
    # where emulated bfloat16 would be slower. The reader answers in fp32 either way.
    precision: str = "auto"
    # Dropout on the LoRA inputs drew 72 of the 109 random masks of a step, and drawing all 109
    # (aten::bernoulli_) was 31 % of a step's time (torch profiler, 2-core EPYC). Without it a step
    # takes 26-30 % less time: bf16 0.42 -> 0.60 batches/s, and fp32 0.223 -> 0.303 on an EPYC
    # without AVX-512 (EVALUATION.md). The encoder's own dropout
    # (0.1 on hidden states and attention) still regularizes. v5 was trained with 0.1 and fp32.
    lora_dropout: float = 0.0
    # Adapters only above the lowest ``frozen_layers`` blocks, and the base's attention-probability
    # dropout (0.1) overridden: backward then stops at the first adapted block, and the attention
    # masks (16 x 12 x L x L a layer) were the largest left. fp32 on the Zen 2 EPYC, the same 12
    # batches: 0.353 batches/s as is, 0.439 without attention dropout, 0.525 with 4 blocks frozen too
    # (EVALUATION.md, "A faster recipe for hosts without bfloat16").
    frozen_layers: int = 0
    attention_dropout: float | None = None  # None: the base model's own
    # Every dropout mask (LoRA's, the encoder's) drawn by numpy's PCG64 rather than torch's
    # bernoulli_, which was 32 % of a step with v5's dropout: 1.2x the batches/s (rag/eval/masks.py).
    numpy_masks: bool = False
    # Batches of examples alike in length counted in tokens, not characters. By characters, 14.7 %
    # of the tokens of v5's batches were padding (3,200 examples of its data, seed 13), since Arabic
    # words take one to several tokens; the matrix products work on the pads too. By tokens: 1.3 %,
    # and 0.34 -> 0.40 batches/s with numpy_masks in v5's recipe (Zen 3 EPYC; EVALUATION.md).
    token_buckets: bool = False


def _title_hash(title: str, seed: int) -> int:
    return int(hashlib.sha1(f"{seed}/{title}".encode()).hexdigest(), 16)


def held_titles(titles: Iterable[str], seed: int) -> frozenset[str]:
    """The articles of one file held out of training: one in ``HOLDOUT``, by a
    seeded hash of the title. Their questions choose the threshold and fit
    the calibration, never the weights. A small file (a maintainer's own
    questions) may draw none: then the article of the smallest hash is held
    out, if another is left to train on. Files that draw one keep their split."""
    titles = set(titles)
    held = frozenset(t for t in titles if _title_hash(t, seed) % HOLDOUT == 0)
    if held or len(titles) < 2:
        return held
    return frozenset({min(titles, key=lambda t: (_title_hash(t, seed), t))})


@dataclass
class _Window:
    article: int
    lo: int
    hi: int
    text: str


def _locate(context: str, text: str, start: int) -> tuple[int, int] | None:
    if 0 <= start and context[start:start + len(text)] == text:
        return start, start + len(text)
    at = context.find(text)
    return (at, at + len(text)) if at >= 0 else None


def examples_from(path: Path, seed: int, span_weight: float = 1.0, progress: Progress | None = None,
                  cut: bool = False, distract: bool = False, swap: bool = False, attribute: bool = False,
                  held_seed: int | None = None, skipped: dict[str, list[str]] | None = None
                  ) -> tuple[list[Example], list[HeldQuestion]]:
    """Training examples and held-out questions of one SQuAD file. ``held_seed``
    chooses the held-out articles (default: ``seed``, which draws the rest).
    Answerable questions that give nothing to learn or score are left out;
    ``skipped`` collects where they are (``data[a].paragraphs[p].qas[q]``) by
    reason, for the log (``SKIPPED``)."""
    skipped = {} if skipped is None else skipped
    paragraphs = read_squad(path)
    rnd = random.Random(f"{seed}-{path.name}")
    titles = sorted({p.article for p in paragraphs})
    held = held_titles(titles, seed if held_seed is None else held_seed)
    art_of = {t: i for i, t in enumerate(titles)}
    windows: list[_Window] = []
    per_para: list[list[int]] = []
    sentences: list[list[tuple[int, int]]] = []
    for para in paragraphs:
        spans = split_sentences(para.context)
        sentences.append(spans)
        ids = []
        seen = set()
        for i in range(len(spans)):
            f, last = rd.window_of(spans, i)
            key = (spans[f][0], spans[last][1])
            if key not in seen:
                seen.add(key)
                ids.append(len(windows))
                windows.append(_Window(art_of[para.article], key[0], key[1], para.context[key[0]:key[1]]))
        per_para.append(ids)
    bm25 = BM25.fit([tokenize(w.text) for w in windows])
    df = bm25.document_frequencies() if swap else {}  # how rare a name is, for _swap_name

    def others(question: str, article: int, k: int) -> list[int]:
        scores = bm25.scores(tokenize(question))
        order = np.argsort(-scores)[: 8 * k + 8]
        return [int(j) for j in order if windows[j].article != article and scores[j] > 0][:k]

    def overlap(question: str, ids: Sequence[int]) -> list[int]:
        q = set(tokenize(question))
        return sorted(ids, key=lambda j: -len(q & set(tokenize(windows[j].text))))

    train: list[Example] = []
    heldout: list[HeldQuestion] = []
    for n, (para, ids) in enumerate(zip(paragraphs, per_para)):
        if progress:
            progress(f"examples {path.name}", n + 1, len(paragraphs))
        if not ids:
            continue
        article = art_of[para.article]
        for q, qa in enumerate(para.qas):
            answer = next((loc for t, s in qa.answers if (loc := _locate(para.context, t, s))), None)
            holding = [j for j in ids if answer and windows[j].lo <= answer[0] and answer[1] <= windows[j].hi]
            if not qa.impossible and not holding:
                reason = "no_answer" if not qa.answers else "not_found" if answer is None else "across"
                skipped.setdefault(reason, []).append(f"data[{para.where[0]}].paragraphs[{para.where[1]}].qas[{q}]")
            if para.article in held:
                if qa.impossible or holding:
                    heldout.append(HeldQuestion(
                        qa.id, qa.question, not qa.impossible, tuple(windows[j].text for j in ids),
                        tuple(t for t, _ in qa.answers), ids.index(holding[0]) if holding else None,
                        tuple(windows[j].text for j in others(qa.question, article, OTHER_DEPTH))))
                continue
            if qa.impossible:
                near = next((loc for t, s in qa.plausible if (loc := _locate(para.context, t, s))), None)
                pool = ([j for j in ids if near and windows[j].lo <= near[0] < windows[j].hi]
                        or overlap(qa.question, ids))
                w = windows[pool[0]]
                train.append(Example(qa.id, qa.question, w.text, 0, None, "impossible"))
                continue
            if answer is None or not holding:
                continue
            w = windows[rnd.choice(holding)]
            train.append(Example(qa.id, qa.question, w.text, 1, (answer[0] - w.lo, answer[1] - w.lo), "answer",
                                 span_weight))
            golds = [t.strip() for t, _ in qa.answers if t.strip()]
            # a window that holds the answer's words elsewhere may answer too: no negative
            same = [j for j in overlap(qa.question, ids)
                    if (windows[j].hi <= answer[0] or windows[j].lo >= answer[1])
                    and not any(g in windows[j].text for g in golds)]
            other = others(qa.question, article, 1)
            # both kinds of negative for the clean sets, one (alternating) for large noisy ones
            picks = [("same", same[:1]), ("other", other)]
            if span_weight < 1.0:
                picks = [picks[rnd.random() < 0.5]]
            for kind, js in picks:
                for j in js:
                    train.append(Example(qa.id, qa.question, windows[j].text, 0, None, kind))
            if cut and span_weight >= 1.0 and (rest := _cut_answer(para.context, sentences[n], w, answer, golds)):
                train.append(Example(qa.id, qa.question, rest, 0, None, "cut"))
            if swap and other and (swapped := _swap_name(qa.question, para.article, titles[windows[other[0]].article],
                                                         w.text, df, answer[0] - w.lo, answer[1] - w.lo)):
                train.append(Example(qa.id, qa.question, swapped, 0, None, "swap"))
            if attribute:
                asked = {a for k in range(ATTRIBUTE_SWAPS)
                         if (a := _swap_attribute(qa.question, para.context, f"{seed}-{qa.id}-{k}"))}
                train += [Example(qa.id, a, w.text, 0, None, "attribute") for a in sorted(asked)]
            if distract and other:
                d = _distractor(qa.question, windows[other[0]].text, golds)
                before = random.Random(f"{seed}-{qa.id}").random() < 0.5  # rnd's draws stay those without the option
                made = _beside_answer(para.context, sentences[n], w, answer, d, before) if d else None
                if made:
                    train.append(Example(qa.id, qa.question, made[0], 1, made[1], "distract", span_weight))
    return train, heldout


def _cut_answer(context: str, spans: Sequence[tuple[int, int]], w: _Window, answer: tuple[int, int],
                golds: Sequence[str]) -> str | None:
    """The window ``w`` without the sentence(s) holding ``answer``, or None
    when nothing (or only the answer again) is left."""
    if not (held := _answer_sentences(spans, answer)):
        return None
    lo, hi = held
    rest = (context[w.lo:lo].rstrip() + " " + context[hi:w.hi].lstrip()).strip()
    if len(rest) < 40 or any(g in rest for g in golds):
        return None
    return rest


def _answer_sentences(spans: Sequence[tuple[int, int]], answer: tuple[int, int]) -> tuple[int, int] | None:
    """Where the sentence(s) holding ``answer`` start and end, if any do."""
    held = [(a, b) for a, b in spans if a < answer[1] and b > answer[0]]
    return (held[0][0], held[-1][1]) if held else None


def _swap_name(question: str, title: str, other: str, window: str, df: dict[str, int], lo: int, hi: int
               ) -> str | None:
    """``window`` with every word holding the name the question asks about
    (its rarest term that is also in the article's title) replaced by a word
    of another article's title ``other``: the same text about something
    else, which no longer answers (entity substitution, Longpre et al.,
    "Entity-Based Knowledge Conflicts in Question Answering", 2021). None
    when there is no such name in the window outside the answer."""
    question_terms = set(tokenize(question))
    asked = question_terms & set(tokenize(title))
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", window)]
    toks = [set(tokenize(window[a:b])) for a, b in words]
    present = {t for ts in toks for t in ts} & asked
    if not present:
        return None
    term = min(present, key=lambda t: (df.get(t, 0), t))
    hits = [i for i, ts in enumerate(toks) if term in ts]
    if any(a < hi and b > lo for a, b in (words[i] for i in hits)):
        return None  # the answer itself holds it
    pool = sorted({w for w in other.split() if (t := tokenize(w)) and not set(t) & question_terms},
                  key=lambda w: (-len(w), w))
    if not pool:
        return None
    new = pool[0]
    out, at = [], 0
    for i in hits:
        a, b = words[i]
        out += [window[at:a], new]
        at = b
    text = "".join(out) + window[at:]
    return None if term in set(tokenize(text)) else text


# Attributes a question asks for, by kind: one swapped for another of its kind asks for something
# else about the same thing.
ATTRIBUTES = tuple(tuple(group.split()) for group in (
    "عدد سعر ثمن عمر طول وزن مساحة ارتفاع عمق مسافة قيمة تكلفة راتب نسبة سرعة ميزانية أرباح إيرادات ديون سكان",
    "لون اسم لقب عاصمة عملة جنسية ديانة لغة شعار عنوان مقر",
    "مؤسس رئيس مدير مدرب زوجة زوج والد والدة ابن وزير سفير مخرج مؤلف مكتشف قائد ملك",
))
_ATTRIBUTE_GROUP = {normalize(w): group for group in ATTRIBUTES for w in group}  # as questions are matched
_ATTRIBUTE_PREFIXES = ("وال", "بال", "فال", "لل", "ال", "")
ATTRIBUTE_SWAPS = 3  # draws per question (distinct ones kept): about 1,000 questions ask for an attribute


def _swap_attribute(question: str, context: str, key: str) -> str | None:
    """``question`` with the attribute it asks for (among its first five
    words) swapped for another of the same kind that ``context`` never
    mentions, so that it no longer answers; None when the question asks for
    none. The choice is seeded by ``key``."""
    mentioned = set(tokenize(context))
    for m in list(re.finditer(r"\S+", question))[:5]:
        written = m.group().rstrip("؟?،,.")
        word = normalize(written)
        for prefix in _ATTRIBUTE_PREFIXES:
            bare = word[len(prefix):]
            if not word.startswith(prefix) or bare not in _ATTRIBUTE_GROUP:
                continue
            pool = [w for w in _ATTRIBUTE_GROUP[bare] if normalize(w) != bare and not set(tokenize(w)) & mentioned]
            if not pool:
                return None
            new = prefix + random.Random(key).choice(pool)
            return question[:m.start()] + new + question[m.start() + len(written):]
    return None


MAX_DISTRACTOR_CHARS = 250


def _distractor(question: str, window: str, golds: Sequence[str]) -> str | None:
    """The sentence of ``window`` (another article's) sharing most content
    words with the question, if it shares any and holds no gold answer."""
    q = set(tokenize(question))
    best, shared = None, 0
    for a, b in split_sentences(window):
        text = window[a:b]
        n = len(q & set(tokenize(text)))
        if n > shared and len(text) <= MAX_DISTRACTOR_CHARS and not any(g in text for g in golds):
            best, shared = text, n
    return best


def _beside_answer(context: str, spans: Sequence[tuple[int, int]], w: _Window, answer: tuple[int, int],
                   distractor: str, before: bool) -> tuple[str, tuple[int, int]] | None:
    """The window ``w`` with ``distractor`` put just before or after the
    sentence(s) holding ``answer``, and the answer's offsets in it. When the
    window would grow past ``MAX_WINDOW_CHARS``, the answer's sentences alone
    with the distractor; None when even that is too long."""
    if not (held := _answer_sentences(spans, answer)):
        return None
    lo, hi = held
    base_lo, base_hi = w.lo, w.hi
    if (base_hi - base_lo) + len(distractor) + 1 > rd.MAX_WINDOW_CHARS:
        base_lo, base_hi = lo, hi
        if (hi - lo) + len(distractor) + 1 > rd.MAX_WINDOW_CHARS:
            return None
    cut = lo if before else hi
    head, tail = context[base_lo:cut].rstrip(), context[cut:base_hi].lstrip()
    text = " ".join(x for x in (head, distractor, tail) if x)
    if before:  # the answer is in the tail, after the head and the distractor
        start = (len(head) + 1 if head else 0) + len(distractor) + 1 + answer[0] - cut
    else:  # in the head, which starts the window
        start = answer[0] - base_lo
    end = start + (answer[1] - answer[0])
    if text[start:end] != context[answer[0]:answer[1]]:
        return None  # white space moved the answer: skip rather than teach a wrong span
    return text, (start, end)


def file_hash(path: Path) -> str:
    return rd.file_sha256(path)


# ------------------------------------------------------------------ training
def _batches(examples: list[Example], batch_size: int, rnd: random.Random,
             length: Callable[[Example], int] | None = None) -> list[list[Example]]:
    """Shuffled batches of examples of similar ``length`` (less padding; by
    default characters of window and question)."""
    order = examples[:]
    rnd.shuffle(order)
    out = []
    pool = 64 * batch_size
    size = length or (lambda e: len(e.window) + len(e.question))
    for i in range(0, len(order), pool):
        chunk = sorted(order[i:i + pool], key=size)
        out += [chunk[j:j + batch_size] for j in range(0, len(chunk), batch_size)]
    rnd.shuffle(out)
    return out


def _token_span(offsets: np.ndarray, passage: np.ndarray, span: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = span
    toks = [t for t in range(len(offsets)) if passage[t] and offsets[t][1] > lo and offsets[t][0] < hi]
    return (toks[0], toks[-1]) if toks else None


def train(options: TrainOptions, progress: Progress | None = None, log: Callable[[str], None] = print) -> dict:
    """Train, choose the threshold, write the artifact; returns the manifest."""
    import torch

    progress = progress or (lambda stage, done, total: None)
    start_from = _checked_init(options) if options.init else None  # before any data or model work
    # Training on from a reader keeps the articles it held out, whatever --seed draws: with another
    # split it would be measured, and then calibrated, on articles it has already learned.
    held_seed = manifest_held_out_seed(start_from.manifest) if start_from else options.seed
    if held_seed != options.seed:
        log(f"held out: the articles {options.init} held out (seed {held_seed}); seed {options.seed} draws the rest")
    random.seed(options.seed)
    np.random.seed(options.seed)
    torch.manual_seed(options.seed)
    if options.threads:
        torch.set_num_threads(options.threads)
    from ..config import Config

    examples: list[Example] = []
    held: list[HeldQuestion] = []
    files = []
    for path in options.data:
        path = Path(path)
        skipped: dict[str, list[str]] = {}
        ex, ho = examples_from(path, options.seed, options.span_weight.get(path.stem, 1.0), progress,
                               cut=options.cut, distract=options.distract, swap=options.swap,
                               attribute=options.attribute, held_seed=held_seed, skipped=skipped)
        log(f"{path.name}: {len(ex)} training examples, {len(ho)} held-out questions")
        for reason, places in skipped.items():
            log(f"{path.name}: {len(places)} question(s) left out, {SKIPPED[reason]} (first: {places[0]})")
        examples += ex * max(1, int(options.repeat.get(path.stem, 1)))
        held += ho
        files.append({"file": path.name, "sha256": file_hash(path), "examples": len(ex), "held_out": len(ho)})
    if not examples:
        raise DatasetError("no training examples in " + ", ".join(str(p) for p in options.data))
    rnd = random.Random(options.seed)
    if options.max_examples and len(examples) > options.max_examples:
        examples = rnd.sample(examples, options.max_examples)
    counts = {k: sum(e.kind == k for e in examples)
              for k in ("answer", "same", "other", "impossible", "cut", "distract", "swap", "attribute")}
    log(f"training on {len(examples)} examples: {counts}")
    folder = rd.base_folder(Config.load().cache_dir)  # after the data: a bad file fails before any model work

    net = rd.build_net(folder, options.rank, options.alpha, dropout=options.lora_dropout,
                       frozen_layers=options.frozen_layers, attention_dropout=options.attention_dropout)
    init = _start_from(net, start_from) if start_from else None
    if options.numpy_masks:
        from .masks import use_numpy_masks

        use_numpy_masks(net, options.seed)
    teacher = None
    if start_from and options.keep_spans:  # the init reader itself, as it answers (merged, eval mode)
        teacher = start_from.net.requires_grad_(False)
    tok = rd.tokenizer_for(folder)
    heads = list(net.answerable.parameters()) + list(net.span.parameters())
    lora = [p for p in net.encoder.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": lora, "lr": options.lr}, {"params": heads, "lr": 3 * options.lr}],
                            weight_decay=0.01)
    length = _token_lengths(tok, examples) if options.token_buckets else None
    batches = []
    for epoch in range(math.ceil(options.epochs)):
        batches += _batches(examples, options.batch_size, rnd, length)
    batches = batches[: int(len(batches) * options.epochs / math.ceil(options.epochs)) or 1]
    total = len(batches)
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    ckpt = options.out / "checkpoint.pt"
    start, earlier_s = 0, 0.0  # training time of the runs this one resumes
    if ckpt.is_file():  # resume an interrupted run of the same options
        state = torch.load(ckpt, weights_only=False)
        if state.get("options") == _options_key(options):
            net.load_state_dict(state["net"], strict=False)
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            start = state["step"]
            earlier_s = state.get("seconds", 0.0)
            log(f"resuming from step {start} of {total}")
    bf16 = _bf16(options.precision)
    for line in _precision_lines(bf16):
        log(line)
    net.train()
    bce = torch.nn.BCEWithLogitsLoss()
    t0 = time.perf_counter()
    for step in range(start, total):
        batch = batches[step]
        ids, mask, passage, offsets = _encode_batch(tok, batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logit, s_log, e_log = net(ids, mask)
            if teacher is not None:
                with torch.no_grad():
                    _, t_s, t_e = teacher(ids, mask)
        logit, s_log, e_log = logit.float(), s_log.float(), e_log.float()  # the losses in fp32
        labels = torch.tensor([float(e.label) for e in batch])
        loss = bce(logit, labels)
        rows, starts, ends, weights = [], [], [], []
        for r, e in enumerate(batch):
            if e.label and e.span:
                t = _token_span(offsets[r], passage[r].numpy(), e.span)
                if t:
                    rows.append(r)
                    starts.append(t[0])
                    ends.append(t[1])
                    weights.append(e.weight)
        if rows:
            neg = torch.finfo(s_log.dtype).min
            sl = s_log[rows].masked_fill(~passage[rows], neg)
            el = e_log[rows].masked_fill(~passage[rows], neg)
            ce = torch.nn.functional.cross_entropy
            w = torch.tensor(weights)
            span_loss = ((ce(sl, torch.tensor(starts), reduction="none")
                          + ce(el, torch.tensor(ends), reduction="none")) / 2 * w).sum() / len(batch)
            loss = loss + span_loss
        if teacher is not None:
            loss = loss + options.keep_spans * (span_kl(s_log, t_s.float(), passage)
                                                + span_kl(e_log, t_e.float(), passage)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora + heads, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        progress("train", step + 1, total)
        if (step + 1) % 100 == 0:  # a line for logs, where the bar is not drawn
            rate = (step + 1 - start) / (time.perf_counter() - t0)
            log(f"step {step + 1}/{total}, loss {loss.item():.3f}, {rate:.2f} batches/s, "
                f"~{(total - step - 1) / rate / 60:.0f} min left")
        if (step + 1) % 200 == 0 or step + 1 == total:
            options.out.mkdir(parents=True, exist_ok=True)
            trainable = {k: v for k, v in net.state_dict().items()
                         if "lora_" in k or k.startswith(("answerable.", "span."))}
            torch.save({"net": trainable, "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step + 1,
                        "options": _options_key(options), "seconds": earlier_s + time.perf_counter() - t0},
                       ckpt.with_suffix(".tmp"))
            ckpt.with_suffix(".tmp").replace(ckpt)
    train_s = earlier_s + time.perf_counter() - t0  # every run's training, not only the last one's
    net.eval()

    metrics, threshold = evaluate_heldout(net, tok, held[: options.max_holdout], progress)
    metrics["train_seconds"] = round(train_s, 1)
    files_sha = rd.save_net(net, options.out)
    manifest = {
        "format": rd.FORMAT_VERSION,
        "base_model": rd.BASE_MODEL,
        "base_hash": rd.base_model_hash(),
        "lora": {"rank": options.rank, "alpha": options.alpha}
        | ({"frozen_layers": options.frozen_layers} if options.frozen_layers else {}),
        "targets": list(rd.LORA_TARGETS),
        "max_tokens": rd.MAX_TOKENS,
        "max_window_chars": rd.MAX_WINDOW_CHARS,
        "threshold": threshold,
        "seed": options.seed,
        "held_out_seed": held_seed,
        "data": files,
        "examples": counts,
        "options": {"epochs": options.epochs, "batch_size": options.batch_size, "lr": options.lr,
                    "span_weight": options.span_weight, "max_examples": options.max_examples,
                    "cut": options.cut, "distract": options.distract, "swap": options.swap,
                    "attribute": options.attribute,
                    "repeat": options.repeat, "init": init, "keep_spans": options.keep_spans,
                    "precision": "bf16" if bf16 else "fp32", "lora_dropout": options.lora_dropout,
                    "attention_dropout": options.attention_dropout, "numpy_masks": options.numpy_masks,
                    "token_buckets": options.token_buckets},
        "metrics": metrics,
        "files": files_sha,
        "created": time.strftime("%Y-%m-%d"),
    }
    (options.out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                               encoding="utf-8")
    # the answer settings travel with the threshold they were chosen with
    AnswerSettings(reader_threshold=threshold).save(options.out)
    ckpt.unlink(missing_ok=True)
    return manifest


def _checked_init(options: TrainOptions) -> "rd.Reader":
    """The reader ``--init`` names, checked: complete, made for this base and
    of the same LoRA shape (else a ReaderError naming the fix)."""
    reader = rd.Reader(Path(options.init or ""))
    if not (reader.folder / "manifest.json").is_file():
        # Reader.check's advice (set SANAD_READER=rules) is for answering, not training.
        raise ReaderError(f"cannot train from --init {reader.folder}: no reader there (manifest.json is "
                          "missing); pass a folder `rag train-reader --out` wrote")
    try:
        reader.check()
    except ReaderError as e:
        raise ReaderError(f"cannot train from --init {reader.folder}: {e}") from None
    lora = reader.manifest.get("lora", {})
    if (lora.get("rank"), lora.get("alpha")) != (options.rank, options.alpha):
        raise ReaderError(f"the reader in {reader.folder} has LoRA rank {lora.get('rank')} and alpha "
                          f"{lora.get('alpha')}; training from it needs the same ({options.rank}, {options.alpha})")
    if lora.get("frozen_layers", 0) != options.frozen_layers:
        raise ReaderError(f"the reader in {reader.folder} has {lora.get('frozen_layers', 0)} frozen layers; "
                          f"training from it needs the same (--frozen-layers {lora.get('frozen_layers', 0)})")
    try:
        manifest_held_out_seed(reader.manifest)
    except (KeyError, TypeError, ValueError):
        raise ReaderError(f"cannot train from --init {reader.folder}: its manifest records no seed, so the "
                          "articles it held out are unknown; pass a folder `rag train-reader --out` wrote") from None
    return reader


def span_kl(student, teacher, passage):
    """KL(teacher || student) of one end's distribution over each window's passage tokens
    (logits, rows are windows; ``passage`` masks the tokens a span may use), batch-averaged."""
    import torch

    neg = torch.finfo(student.dtype).min
    log_p = torch.log_softmax(student.masked_fill(~passage, neg), dim=-1)
    log_q = torch.log_softmax(teacher.masked_fill(~passage, neg), dim=-1)
    # outside the passage the teacher's probability is exactly 0, and 0 * log 0 counts 0
    return (log_q.exp() * (log_q - log_p)).masked_fill(~passage, 0.0).sum(-1).mean()


def _start_from(net, reader: "rd.Reader") -> dict:
    """Load ``reader``'s adapter and heads into ``net``; what the manifest records of it."""
    rd.load_weights(net, reader.folder)
    return {"reader": str(reader.folder), "created": reader.manifest.get("created"),
            "adapter_sha256": reader.manifest.get("files", {}).get("adapter.safetensors")}


PRECISIONS = ("auto", "bf16", "fp32")


# measured on a Zen 3 EPYC: v9's second step ran 0.43 batches/s in fp32 and under 0.03 in bf16
EMULATED_BF16 = ("warning: this CPU has no bfloat16 instructions, so --precision bf16 is emulated and trains "
                 "more than 10x slower than fp32 here (EVALUATION.md, \"Batches by token length\")")


def _bf16(precision: str) -> bool:
    """Whether to train in bfloat16 (see TrainOptions.precision)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision != "auto":
        return precision == "bf16"
    import torch

    try:  # a private check, but the one torch's own tests use; without it, play safe
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _precision_lines(bf16: bool) -> list[str]:
    """What training says of its arithmetic: a warning too when bfloat16 is emulated."""
    return [f"training in {'bf16' if bf16 else 'fp32'}"] + ([EMULATED_BF16] if bf16 and not _bf16("auto") else [])


def _options_key(options: TrainOptions) -> dict:
    d = asdict(options)
    d["data"] = [str(p) for p in options.data]
    d["out"] = str(options.out)
    d["init"] = str(options.init) if options.init else None
    return d


def _token_lengths(tok, examples: Sequence[Example]) -> Callable[[Example], int]:
    """Each example's length in tokens as ``_encode_batch`` encodes it (a repeated example is
    tokenized once)."""
    unique = list({(e.question, e.window): None for e in examples})
    enc = tok(["query: " + q[:rd.MAX_QUESTION_CHARS] for q, _ in unique], [rd.PASSAGE_PREFIX + w for _, w in unique],
              truncation="only_second", max_length=rd.MAX_TOKENS)
    lengths = {key: len(ids) for key, ids in zip(unique, enc["input_ids"])}
    return lambda e: lengths[(e.question, e.window)]


def _encode_batch(tok, batch: Sequence[Example]):
    """Pairs with different questions (rd.encode takes one question)."""
    import torch

    enc = tok(["query: " + e.question[:rd.MAX_QUESTION_CHARS] for e in batch],
              [rd.PASSAGE_PREFIX + e.window for e in batch], truncation="only_second", max_length=rd.MAX_TOKENS,
              padding=True, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping").numpy() - len(rd.PASSAGE_PREFIX)
    passage = np.zeros(enc["input_ids"].shape, dtype=bool)
    for row in range(len(batch)):
        for t, s in enumerate(enc.sequence_ids(row)):
            passage[row, t] = s == 1 and offsets[row, t, 1] > offsets[row, t, 0] and offsets[row, t, 0] >= 0
    return enc["input_ids"], enc["attention_mask"], torch.from_numpy(passage), offsets


def _score(net, tok, question: str, windows: Sequence[str]) -> list[rd.Reading]:
    import torch

    if not windows:
        return []
    ids, mask, passage, offsets = rd.encode(tok, question, windows)
    with torch.inference_mode():
        logit, s, e = net(ids, mask)
        a, b, p_span = rd.best_spans(s, e, passage)
    p = torch.sigmoid(logit).tolist()
    out = []
    for r, w in enumerate(windows):
        lo, hi = rd._trim(w, max(0, int(offsets[r, int(a[r]), 0])), min(len(w), int(offsets[r, int(b[r]), 1])))
        out.append(rd.Reading(p[r], lo, hi, float(p_span[r])))
    return out


def evaluate_heldout(net, tok, held: Sequence[HeldQuestion], progress: Progress | None = None
                     ) -> tuple[dict, float]:
    """Decisions on held-out questions, as Sanad makes them (answer when the
    best window's probability reaches the threshold):

    * answerable, own paragraph read: should answer, from the gold window;
    * the same question with only other articles' best windows: should refuse;
    * unanswerable (SQuAD 2.0), own paragraph read: should refuse.

    The threshold maximizes balanced accuracy (mean of answer rate and refusal
    rate); returns the metrics at it. Without both kinds of decision there is
    no curve: the threshold stays the default and the rates are None."""
    from ..answer.calibration import choose_threshold

    progress = progress or (lambda stage, done, total: None)
    pos, neg, spans = [], [], []
    for n, q in enumerate(held):
        own = _score(net, tok, q.question, q.windows)
        best = max(range(len(own)), key=lambda i: own[i].p_answer)
        if q.answerable:
            pos.append(own[best].p_answer)
            r = own[best]
            spans.append(token_f1(q.windows[best][r.start:r.end], q.gold) if best == q.gold_window else 0.0)
            absent = _score(net, tok, q.question, q.absent)
            if absent:
                neg.append(max(r.p_answer for r in absent))
        else:
            neg.append(own[best].p_answer)
        progress("held-out", n + 1, len(held))
    metrics: dict = {"held_out_questions": len(held), "answerable": len(pos), "should_refuse": len(neg)}
    if not (pos and neg):
        return metrics | dict.fromkeys(("answered", "refused", "balanced_accuracy", "span_f1_from_gold_window")), \
            AnswerSettings().reader_threshold
    # the curve's own best: the held-out questions are not grouped by article here (the
    # calibrated threshold, which decides once `rag calibrate` has run, is; see calibrate)
    threshold, answered, refused = choose_threshold(pos + neg, [1] * len(pos) + [0] * len(neg))
    metrics |= {"answered": round(answered, 4), "refused": round(refused, 4),
                "balanced_accuracy": round((answered + refused) / 2, 4),
                "span_f1_from_gold_window": round(sum(spans) / max(1, len(spans)), 4)}
    return metrics, float(threshold)


# --------------------------------------------------------------- calibration
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


def heldout_file(path: Path, seed: int, max_questions: int, out: Path, every: bool = False) -> int:
    """Write the held-out articles of a SQuAD file (whole articles, in file
    order, up to about ``max_questions`` questions) as a SQuAD file; with
    ``every``, the other articles follow them. Returns how many questions it
    holds."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    articles = list(enumerate(doc.get("data", [])))
    held = held_titles((_title(*a) for a in articles), seed)
    order = sorted(articles, key=lambda a: _title(*a) not in held)
    keep, n = [], 0
    for a, article in order:
        if n >= max_questions or not (every or _title(a, article) in held):
            continue
        keep.append(article)
        n += sum(len(p.get("qas", [])) for p in article.get("paragraphs", []))
    out.write_text(json.dumps({"version": doc.get("version", ""), "data": keep}, ensure_ascii=False),
                   encoding="utf-8")
    return n


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
        n = heldout_file(path, seed, options.max_questions, subset, every=options.every_article)
        # drawn over the whole file, as training drew them (the subset may hold only these)
        held_articles = held_titles((p.article for p in read_squad(path)), seed)
        log(f"{path.name}: {n} questions")
        files.append({"file": path.name, "sha256": file_hash(path), "questions": n})
        articles = len({p.article for p in read_squad(subset)})
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


def manifest_held_out_seed(manifest: Mapping) -> int:
    """The seed that chose a reader's held-out articles: its own seed, or
    (trained on with ``--init``) its init's, which manifests before
    ``held_out_seed`` did not record apart."""
    return int(manifest.get("held_out_seed", manifest["seed"]))


def trained_seed(reader: Path, default: int = 13) -> int:
    """The seed that chose a reader's held-out articles (its manifest's):
    calibrating with another would treat articles it trained on as held out."""
    try:
        return manifest_held_out_seed(json.loads((Path(reader) / "manifest.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return default  # a missing or damaged reader is reported when it is loaded


def calibrate(options: CalibrateOptions, progress: Progress | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Fit the calibration layer (rag/answer/calibration.py) on decisions about the
    training files (``collect_decisions``, or a saved ``decisions.jsonl``):
    trees or a logistic regression, with the threshold chosen on out-of-fold
    scores (folds by article): the middle of the thresholds within one
    standard error of the best balanced accuracy (``calibration.choose_threshold``). Writes it
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
    fitted = replace(fit_model(rows, labels), threshold=threshold)
    # the reader alone, for comparison: its best window's probability (p1 is stored as a logit)
    base_t, base_answered, base_refused = cal.choose_threshold([1 / (1 + math.exp(-r["p1"])) for r in rows], labels,
                                                               groups, seed=seed)
    AnswerSettings.from_json({**settings.to_json(), "calibration": fitted.to_json(),
                              "passage_title": fitted_titled}).save(options.reader)
    left_out = {"without": sorted(options.without)} if options.without else {}
    summary = {"kind": options.kind, "files": files, **left_out, "passage_title": fitted_titled,
               "examples": len(rows), "should_answer": sum(labels),
               "threshold": threshold, "threshold_rule": cal.THRESHOLD_RULE, "best_threshold": top,
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
