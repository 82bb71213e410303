"""The reader's windows run through the encoder without their padding.

A batch of windows is padded to its longest; the encoder's matrix products then also work on
the pad tokens, whose outputs nobody reads. On the development set the cascade's second read
(three windows) was 15 % padding (12,237 real tokens against 14,352; BENCHMARKS.md), and
reading each window alone at its own length was slower, since one product over three windows
runs faster per token than three small ones. Packing keeps the one product and drops the
pads: the batch's real tokens become one row, each window keeps its own positions, and
attention runs window by window, so no token sees another window's. The outputs are the
padded batch's at the real tokens, to float rounding (tests/test_packing.py). Measured with
benchmarks/bench_packing.py on a Zen 3 EPYC: the reader's p95 per development question
304-313 -> 278-292 ms, p50 unchanged (BENCHMARKS.md).

Imported only when the reader reads, since it imports torch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ATTENTION = "sanad_packed"  # the attention function's name in transformers' registry


def _attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, sanad_segments=(),
               **kwargs):
    """Attention within each window of a packed row: ``sanad_segments`` holds the
    windows' [start, end) in the row."""
    if not sanad_segments:
        raise RuntimeError("a packed encoder reads through rag.answer.packing.packed_hidden")
    if dropout:
        raise RuntimeError("packed attention is for reading (eval mode): it drops nothing")
    if len(sanad_segments) == 1:  # one window: no slices, no copy
        out = F.scaled_dot_product_attention(query, key, value, scale=scaling)
    else:
        out = torch.cat([F.scaled_dot_product_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b],
                                                        scale=scaling)
                         for a, b in sanad_segments], dim=2)
    return out.transpose(1, 2).contiguous(), None


def _no_mask(*args, **kwargs):
    # the windows are kept apart by the segments, not by a mask over the whole packed row
    return None


def use_packing(encoder) -> None:
    """Make ``encoder`` (a transformers BERT) attend through ``_attention``.
    Reading must then go through ``packed_hidden``."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION, _attention)
    AttentionMaskInterface.register(ATTENTION, _no_mask)
    encoder.set_attn_implementation(ATTENTION)


def packed_hidden(encoder, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The encoder's last hidden states for a padded batch (rows x tokens x
    hidden), computed on its real tokens only; zero at the pads."""
    keep = attention_mask.bool()
    if input_ids.shape[0] == 1 and bool(keep.all()):  # one window, nothing to skip
        return encoder(input_ids=input_ids, sanad_segments=((0, input_ids.shape[1]),)).last_hidden_state
    lengths = keep.sum(1).tolist()
    bounds, start = [], 0
    for n in lengths:
        bounds.append((start, start + n))
        start += n
    # each token keeps the position it has in its padded row
    positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)[keep].unsqueeze(0)
    h = encoder(input_ids=input_ids[keep].unsqueeze(0), position_ids=positions,
                sanad_segments=tuple(bounds)).last_hidden_state[0]
    out = h.new_zeros((*input_ids.shape, h.shape[-1]))
    out[keep] = h
    return out
