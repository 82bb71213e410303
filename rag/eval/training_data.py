"""The reader's training data: examples from SQuAD-format files, and the
split of each file's articles into trained-on and held out.

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
choose the threshold and give the manifest's metrics.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..answer import reader as rd
from ..index.bm25 import BM25
from .evalsets import read_squad
from ..ingest.sentences import split_sentences
from ..text import normalize, tokenize

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
