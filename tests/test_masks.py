"""Dropout masks drawn by numpy (rag/eval/masks.py, `rag train-reader --numpy-masks`): the
same dropout as torch's, seeded, and no change to what the net computes when it answers."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rag.answer import reader as rd
from rag.eval.masks import ATTENTION, NumpyDropout, use_numpy_masks
from conftest import ROOT

MINI = ROOT / "tests" / "fixtures" / "mini-squad.json"


def test_a_mask_drops_p_of_the_values_and_scales_the_rest_like_torch_dropout():
    d = NumpyDropout(0.1, np.random.default_rng(13))
    x = torch.rand(64, 128, 96) + 0.5  # no zeros of its own
    y = d(x)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.005  # 786,432 draws: the standard error is 0.0003
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.9)
    # the same expectation as torch's own dropout
    assert abs(y.mean().item() - x.mean().item()) < 0.005


def test_the_gradient_passes_where_the_mask_keeps_and_nowhere_else():
    d = NumpyDropout(0.25, np.random.default_rng(1))
    x = torch.ones(32, 50, requires_grad=True)
    y = d(x)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # 1/(1-p) where kept, 0 where dropped


def test_masks_follow_the_seed_and_eval_mode_drops_nothing():
    x = torch.ones(8, 300)
    a = NumpyDropout(0.1, np.random.default_rng(13))(x)
    b = NumpyDropout(0.1, np.random.default_rng(13))(x)
    c = NumpyDropout(0.1, np.random.default_rng(14))(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    d = NumpyDropout(0.1, np.random.default_rng(13)).eval()
    assert d(x) is x
    assert NumpyDropout(0.0, np.random.default_rng(13))(x) is x
    with pytest.raises(ValueError):
        NumpyDropout(1.0, np.random.default_rng(13))


@pytest.mark.model
def test_the_reader_net_answers_the_same_and_trains_with_every_mask_from_numpy():
    from rag.config import Config

    folder = rd.base_folder(Config.load().cache_dir)
    tok = rd.tokenizer_for(folder)
    # two windows of different lengths: the shorter one's padding must stay masked
    ids, mask, _, _ = rd.encode(tok, "ما عاصمة فرنسا؟", ["باريس هي عاصمة فرنسا.",
                                                         "برلين مدينة كبيرة في ألمانيا، وهي عاصمتها وأكبر مدنها."])
    assert not bool(mask.all())

    def net_and_reading(numpy_masks: bool):
        torch.manual_seed(0)
        net = rd.build_net(folder, dropout=0.1).eval()
        replaced = use_numpy_masks(net, 13) if numpy_masks else 0
        with torch.no_grad():
            return net, replaced, net(ids, mask)

    _, _, before = net_and_reading(False)
    net, replaced, after = net_and_reading(True)
    # 12 blocks: 6 LoRA inputs, 2 hidden states, the attention probabilities; and the embeddings
    assert replaced == 109
    assert not any(type(m) is torch.nn.Dropout for m in net.modules())
    assert net.encoder.base_model.model.config._attn_implementation == ATTENTION
    for b, a in zip(before, after):
        assert torch.allclose(b, a, atol=1e-5)

    net.train()
    with torch.no_grad():
        one, two = net(ids, mask)[1], net(ids, mask)[1]
    assert not torch.equal(one, two)  # dropped, and differently each time
    again, _, _ = net_and_reading(True)
    with torch.no_grad():
        assert torch.equal(again.train()(ids, mask)[1], one)  # the same seed, the same first masks


@pytest.mark.model
def test_train_reader_with_numpy_masks_and_token_buckets_is_reproducible_and_says_so(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        r = subprocess.run([sys.executable, "-m", "rag", "train-reader", "--data", str(MINI), "--out", str(out),
                            "--max-examples", "16", "--max-holdout", "4", "--lora-dropout", "0.1",
                            "--precision", "fp32", "--numpy-masks", "--token-buckets"],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    a, b = (json.loads((o / "manifest.json").read_text()) for o in outs)
    assert a["options"]["numpy_masks"] is True and a["options"]["token_buckets"] is True
    assert a["files"] == b["files"]  # byte-identical adapter and heads
    rd.Reader(outs[0]).check()
