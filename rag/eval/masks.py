"""Training's dropout masks drawn by numpy instead of torch (`rag train-reader --numpy-masks`).

The same dropout (each value kept with probability 1 - p and scaled by 1 / (1 - p)), from
another random number generator. torch's CPU ``bernoulli_`` draws about 6.5 ns a value on
the 2-core EPYC (Zen 4), numpy's PCG64 about 1.9: 31 against 9 ms for one mask of 16 x 192 x
1536. With v5's recipe (LoRA dropout 0.1, the base's 0.1 on hidden states and attention),
``bernoulli_`` was 32 % of a training step's time (torch profiler). With these masks the same
12 real ARCD batches ran at 0.45-0.48 batches/s against 0.28-0.29, and the first 100 batches
of v5's recipe (`rag train-reader`, its data) at 0.37-0.38 against 0.31, 1.2x (EVALUATION.md,
"Dropout masks drawn by numpy").

A run with these masks is a different random draw of the same recipe, not the same bytes
as a run without them: which recipe made a reader is in its manifest (``numpy_masks``).
Imported only by training, since it imports torch.
"""
from __future__ import annotations

import numpy as np
import torch

ATTENTION = "sanad_numpy_masks"  # the attention function's name in transformers' registry


class NumpyDropout(torch.nn.Module):
    """``torch.nn.Dropout(p)`` with its masks from ``generator`` (shared by a net's masks, so
    one seed fixes them all)."""

    def __init__(self, p: float, generator: np.random.Generator):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be from 0 up to 1, not {p}")
        self.p = p
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        draws = torch.from_numpy(self.generator.random(tuple(x.shape), dtype=np.float32))
        # in place: 1/(1-p) where kept, 0 where dropped, so the mask costs one product each way
        mask = draws.ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * mask.to(x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager attention (models/bert ``eager_attention_forward``) with the
    attention probabilities dropped by the module's own dropout, which ``use_numpy_masks``
    made a NumpyDropout. (The default, SDPA, drops them inside torch's kernel.)"""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.nn.functional.softmax(weights, dim=-1)
    if dropout:  # the layer passes its p only while training
        weights = module.dropout(weights)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


def use_numpy_masks(net: torch.nn.Module, seed: int) -> int:
    """Make every ``torch.nn.Dropout`` in ``net`` (the encoder's, the LoRA adapters') a
    NumpyDropout drawing from one generator seeded with ``seed``, and its attention the one
    above. Returns how many were replaced."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, _attention)
    # the padding mask in the form eager attention adds (without it, transformers builds none)
    AttentionMaskInterface.register(ATTENTION, eager_mask)
    generator = np.random.Generator(np.random.PCG64(seed))
    replaced = 0
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Dropout:
                setattr(module, name, NumpyDropout(child.p, generator).train(child.training))
                replaced += 1
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = ATTENTION
    return replaced
