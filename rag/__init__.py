"""Sanad (سند): grounded answers in Arabic from a collection of news articles.

``import rag`` is cheap: torch, FAISS and the embedding model load on first use.
"""
from .ingest.chunking import Chunk, ChunkSettings
from .config import Config
from .errors import (ConfigError, IndexCorrupt, IndexLocked, IndexMissing, IndexStale, ModelError, ReaderError,
                     SanadError, SourceError)
from .ingest.sources import Source

__version__ = "0.1.0"

__all__ = [
    "Chunk", "ChunkSettings", "Config", "Source", "SanadError", "ConfigError", "SourceError",
    "ModelError", "ReaderError", "IndexMissing", "IndexStale", "IndexCorrupt", "IndexLocked", "__version__",
]
