"""The reader's windows read without their padding (rag/answer/packing.py): the same
outputs as the padded batch at every real token, and the trained reader's readings unchanged."""
import pytest
import torch
from transformers import BertConfig, BertModel

from rag.answer import reader as rd
from rag.answer.packing import ATTENTION, packed_hidden, use_packing


def tiny_bert() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=1)
    return BertModel(config, add_pooling_layer=False).eval()


def batch(lengths: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 50, (len(lengths), width), generator=g)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = 1  # the pad token
    return ids, mask


@pytest.mark.parametrize("lengths", [[12], [7], [12, 5, 9], [3, 12, 12, 1]])  # [12]: a window without pads
def test_packed_hidden_states_are_the_padded_ones_at_every_real_token(lengths):
    ids, mask = batch(lengths, 12)
    padded_model = tiny_bert()
    with torch.no_grad():
        padded = padded_model(input_ids=ids, attention_mask=mask).last_hidden_state
    model = tiny_bert()
    use_packing(model)
    assert model.config._attn_implementation == ATTENTION
    with torch.no_grad():
        packed = packed_hidden(model, ids, mask)
    keep = mask.bool()
    assert packed.shape == padded.shape
    assert torch.allclose(packed[keep], padded[keep], atol=1e-5)
    assert not packed[~keep].any()  # the pads are zero, not some other window's tokens


def test_a_packed_encoder_refuses_to_be_read_padded_or_trained():
    ids, mask = batch([4, 6], 6)
    model = tiny_bert()
    use_packing(model)
    with pytest.raises(RuntimeError, match="packed_hidden"), torch.no_grad():
        model(input_ids=ids, attention_mask=mask)  # would attend to the pads: no silent error
    model.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        packed_hidden(model, ids, mask)


@pytest.mark.model
def test_the_shipped_reader_reads_the_same_packed_as_padded():
    reader = rd.Reader(rd.DEFAULT_DIR)
    question = "كم بلغت رسوم حجز سيارة رودستر التي دفعها ألتمان؟"
    windows = ["حجز ألتمان سيارة رودستر الرياضية عام 2018 مقابل رسوم حجز بلغت 50 ألف دولار، ثم حاول إلغاء الحجز.",
               "قالت كارولين ليفيت (Karoline Leavitt)، المتحدثة باسم البيت الأبيض، إن الاتفاق تاريخي.",
               "ضخت Nvidia ملياري دولار."]
    packed = reader.read(question, windows)
    net = reader.net
    assert net.packed
    ids, mask, passage, _ = rd.encode(reader._tok, question, windows)
    assert not bool(mask.all())  # windows of different lengths: there is padding to skip
    with torch.inference_mode():
        out_packed = net(ids, mask)
        net.packed, net.encoder.config._attn_implementation = False, "sdpa"
        try:
            out_padded = net(ids, mask)
        finally:
            net.packed, net.encoder.config._attn_implementation = True, ATTENTION
    keep = mask.bool()
    assert torch.allclose(out_packed[0], out_padded[0], atol=1e-4)  # answerability logits
    for a, b in zip(out_packed[1:], out_padded[1:]):  # start and end logits at the real tokens
        assert torch.allclose(a[keep], b[keep], atol=1e-4)
    assert packed[0].p_answer > 0.5 and windows[0][packed[0].start:packed[0].end] == "50 ألف دولار"
