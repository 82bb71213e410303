"""Typed errors. The library raises these; only the CLI and the UI turn them
into messages for people."""
from __future__ import annotations


class SanadError(Exception):
    """Base class for every error the library raises on purpose."""


class ConfigError(SanadError):
    """A configuration value is invalid."""


class SourceError(SanadError):
    """A source file cannot be read as an article (binary, not UTF-8, empty...)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(SanadError):
    """The embedding model cannot be found, converted or loaded."""


class IndexError_(SanadError):
    """Base for index problems (named to avoid shadowing the builtin)."""


class IndexMissing(IndexError_):
    """There is no index at the configured place."""


class IndexStale(IndexError_):
    """The index exists but does not match the configuration or the sources."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class IndexCorrupt(IndexError_):
    """The index files are unreadable or disagree with each other."""


class IndexLocked(IndexError_):
    """Another process is building the index."""


class ClusterError(SanadError):
    """A distributed build cannot reach its Ray cluster, Ray is missing, or
    the cluster failed mid-build (nothing was written)."""


class DatasetError(SanadError):
    """An evaluation dataset cannot be read."""


class ReaderError(SanadError):
    """The trained reader is missing, damaged, of another format or made for
    another base model."""


class LLMError(SanadError):
    """The LLM endpoint failed: unreachable, slower than the timeout, or it
    returned something that is not a chat completion. Composers fall back to
    the extractive answer; the user never sees this."""
