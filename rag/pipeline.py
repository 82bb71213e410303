"""The library facade: what the app and the CLI use.

    sanad = Sanad(Config.load())
    sanad.ensure_index()          # build it if missing or stale
    hits = sanad.search("كم بلغت رسوم الحجز؟")
"""
from __future__ import annotations

import threading

from . import index as ix
from .config import Config
from .embedding import SentenceTransformerEmbedder
from .errors import IndexCorrupt, IndexMissing, IndexStale
from .retrieval import Hit, search


class Sanad:
    def __init__(self, config: Config | None = None, embedder=None):
        self.config = config or Config.load()
        self.embedder = embedder or SentenceTransformerEmbedder.from_config(self.config)
        self._index = None
        self._lock = threading.Lock()

    @property
    def index(self) -> ix.Index:
        with self._lock:
            if self._index is None:
                self._index = ix.load(self.config)
            return self._index

    def ensure_index(self, progress=None) -> ix.BuildReport | None:
        """Load the index; build it first if it is missing, stale or damaged.
        Returns the build report when a build happened."""
        try:
            _ = self.index
            return None
        except (IndexMissing, IndexStale, IndexCorrupt):
            report = ix.build(self.config, self.embedder, progress=progress)
            with self._lock:
                self._index = ix.load(self.config)
            return report

    def search(self, query: str, k: int = 5) -> list[Hit]:
        return search(self.index, self.embedder, query, k)
