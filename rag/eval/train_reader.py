"""Training the reader (``rag train-reader``): LoRA training on the CPU over
the examples of ``training_data``, a threshold chosen on the held-out
questions, and the artifact written with its manifest. Training is seeded;
the same data, seed and machine give the same artifact.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..answer import reader as rd
from ..errors import DatasetError, ReaderError
from .metrics import token_f1
from ..answer.settings import AnswerSettings
from .training_data import Example, HeldQuestion, Progress, SKIPPED, examples_from, file_hash, manifest_held_out_seed


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
        try:
            state = torch.load(ckpt, weights_only=False)
        except Exception as err:  # torch raises several kinds for a damaged file; it is only a checkpoint
            state = {}
            log(f"{ckpt} is unreadable ({type(err).__name__}); training from the start")
        if state.get("options") == _options_key(options):
            net.load_state_dict(state["net"], strict=False)
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            start = state["step"]
            earlier_s = state.get("seconds", 0.0)
            log(f"resuming from step {start} of {total}")
        elif state:
            log(f"{ckpt} is from a run with other options or data; training from the start (it will be replaced)")
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
