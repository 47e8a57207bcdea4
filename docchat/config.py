"""Settings: one typed object, read from the environment (prefix ``DOCCHAT_``) once and passed in.

Nested sections use ``__`` in variable names: ``DOCCHAT_SESSIONS__MAX_CONTENT_CHARS=200000``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "docchat"


class DatabaseSettings(BaseModel):
    """How docchat talks to its database."""

    model_config = ConfigDict(extra="forbid")

    durability: Literal["process", "power"] = Field(
        "process",
        description=(
            "'process': a committed write survives a killed process (SQLite WAL with "
            "synchronous=NORMAL). 'power': it also survives power loss "
            "(synchronous=FULL, one fsync per commit; slower, see README). PostgreSQL follows "
            "its own fsync settings."
        ),
    )
    busy_timeout_s: float = Field(
        30.0, gt=0, description="How long a SQLite writer waits for the lock."
    )
    pool_size: int = Field(10, ge=1, description="Connections kept open per process (PostgreSQL).")
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class SessionSettings(BaseModel):
    """Limits on chat sessions and messages."""

    model_config = ConfigDict(extra="forbid")

    max_content_chars: int = Field(1_000_000, ge=1, description="Largest message content accepted.")
    max_json_bytes: int = Field(
        1_000_000, ge=1, description="Largest metadata or references payload accepted, as JSON."
    )
    max_title_chars: int = Field(500, ge=1, description="Longest session title accepted.")


class ServerSettings(BaseModel):
    """The HTTP server."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_request_bytes: int = Field(
        4_000_000,
        ge=1,
        description="Largest JSON request body accepted (uploads have their own limit).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers to besides localhost, IP addresses and "
        "'host' (DNS-rebinding guard).  Behind a reverse proxy: the public name, e.g. "
        "[\"docs.example.com\"]; '*' allows any name (only if the proxy checks Host).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description='Other web sites (e.g. "https://portal.example.com") whose pages may send '
        "state-changing requests; requests from any other site's pages are refused (403).",
    )


class DocumentSettings(BaseModel):
    """Ingestion: size limits, parsing safety and chunking."""

    model_config = ConfigDict(extra="forbid")

    max_file_bytes: int = Field(
        100_000_000, ge=1, description="Largest file accepted (upload or folder)."
    )
    max_unpacked_bytes: int = Field(
        500_000_000,
        ge=1,
        description="Largest total uncompressed size of an Office file (zip-bomb guard).",
    )
    max_compression_ratio: float = Field(
        200.0, gt=1, description="Largest uncompressed/compressed ratio of an Office file's parts."
    )
    max_pages: int = Field(
        5_000, ge=1, description="Pages (or slides, sheets' rows / 1000) parsed at most."
    )
    chunk_tokens: int = Field(
        200, ge=16, le=256, description="Word-pieces per chunk (the embedder reads at most 256)."
    )
    chunk_overlap: int = Field(40, ge=0, description="Word-pieces shared by consecutive chunks.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> DocumentSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self


class RetrievalSettings(BaseModel):
    """Embedding, search and reranking."""

    model_config = ConfigDict(extra="forbid")

    embedder: Literal["minilm", "openai"] = Field(
        "minilm",
        description="'minilm': embedded all-MiniLM-L6-v2 (offline). 'openai': an OpenAI-compatible "
        "/v1/embeddings server at embedder_url.",
    )
    embedder_url: str | None = Field(None, description="Base URL, e.g. http://127.0.0.1:8080/v1")
    embedder_model: str | None = Field(
        None, description="Model name sent to the embeddings server."
    )
    embedder_api_key: str | None = Field(
        None, description="Bearer token for the embeddings server."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    num_results: int = Field(8, ge=1, le=200, description="Passages returned by default.")
    candidates: int = Field(
        50, ge=1, le=2000, description="Hits taken from each retriever before fusion."
    )
    fusion: Literal["relative", "rrf"] = Field(
        "relative",
        description="How full-text and vector lists are merged: 'relative' (each list's scores "
        "min-max normalised, then weighted by dense_weight; Weaviate's default) or 'rrf' "
        "(reciprocal rank fusion).",
    )
    dense_weight: float = Field(
        0.75, ge=0, le=1, description="Weight of the vector score in 'relative' fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    fulltext_postings_budget: int = Field(
        30_000,
        ge=1,
        description="SQLite: the most term occurrences one full-text query may score.  Query "
        "words are taken rarest first; common ones past the budget are left out (the rarest is "
        "always kept).  Bounds query time on large indexes; small ones are never pruned.",
    )
    rerank_url: str | None = Field(
        None,
        description="A /v1/rerank-style endpoint (llama.cpp, TEI, vLLM, Cohere/Jina-compatible).",
    )
    rerank_model: str | None = None
    rerank_api_key: str | None = None
    enable_reranking: bool = Field(False, description="Rerank by default when a reranker is set.")


class Settings(BaseSettings):
    """All of docchat's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DOCCHAT_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite database, uploaded files and exports live.",
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL; unset means a SQLite file under data_dir. "
            "Example: postgresql+psycopg://user:pass@host/docchat"
        ),
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def effective_database_url(self) -> str:
        """The URL actually used: ``database_url`` or the default SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'docchat.db'}"
