"""The remote reranker, against the real local server (MiniLM cosine similarity as its model)."""

from __future__ import annotations

import pytest

from docchat.config import RetrievalSettings
from docchat.errors import ProviderError
from docchat.retrieval.rerank import RemoteReranker, Reranker, make_reranker

from .openai_server import BAD_RERANK, Seen, free_port

QUERY = "How do I reset my password?"
DOCUMENTS = [
    "The annual rainfall in Peru",
    "Steps to recover account credentials",
    "Our office is closed on public holidays.",
    "Click 'Forgot password' on the sign-in page and follow the emailed link to set a new one.",
]


def test_scores_follow_the_documents_order_and_rank_by_meaning(server_url: str, seen: Seen) -> None:
    with RemoteReranker(url=f"{server_url}/v1/rerank", model="minilm-cosine") as reranker:
        scores = reranker.rerank(QUERY, DOCUMENTS)

    assert len(scores) == len(DOCUMENTS)
    ranked = sorted(range(len(DOCUMENTS)), key=lambda i: scores[i], reverse=True)
    assert ranked[:2] == [3, 1]
    assert seen.rerank_bodies == [
        {"query": QUERY, "documents": DOCUMENTS, "model": "minilm-cosine", "top_n": 4}
    ]


def test_tei_native_endpoint_gives_the_same_scores(server_url: str, seen: Seen) -> None:
    with RemoteReranker(url=f"{server_url}/v1/rerank") as cohere_style:
        expected = cohere_style.rerank(QUERY, DOCUMENTS)

    with RemoteReranker(url=f"{server_url}/rerank") as tei:
        first = tei.rerank(QUERY, DOCUMENTS)
        second = tei.rerank(QUERY, DOCUMENTS[:2])

    assert first == pytest.approx(expected, abs=1e-6)
    assert second == pytest.approx(expected[:2], abs=1e-6)
    # One refused request in the common shape, then TEI's shape only.
    assert [sorted(body) for body in seen.rerank_bodies[1:]] == [
        ["query", "raw_scores", "return_text", "texts", "truncate"]
    ] * 2


def test_no_documents_asks_nothing() -> None:
    with RemoteReranker(url=f"http://127.0.0.1:{free_port()}/v1/rerank") as reranker:
        assert reranker.rerank(QUERY, []) == []


def test_a_single_string_is_refused(server_url: str) -> None:
    with (
        RemoteReranker(url=f"{server_url}/v1/rerank") as reranker,
        pytest.raises(TypeError),
    ):
        reranker.rerank(QUERY, "one document")


def test_sends_the_api_key(server_url: str, seen: Seen) -> None:
    with RemoteReranker(url=f"{server_url}/v1/rerank", api_key="sk-local") as reranker:
        reranker.rerank(QUERY, DOCUMENTS)

    assert seen.authorization == ["Bearer sk-local"]


def test_server_down_is_a_provider_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/rerank"
    with RemoteReranker(url=url) as reranker, pytest.raises(ProviderError) as caught:
        reranker.rerank(QUERY, DOCUMENTS)

    assert caught.value.message == f"reranker at {url} could not be reached"
    assert str(caught.value.__cause__) not in caught.value.message


def test_timeout_is_a_provider_error(server_url: str) -> None:
    url = f"{server_url}/slow/v1/rerank"
    with (
        RemoteReranker(url=url, timeout_s=0.2) as reranker,
        pytest.raises(ProviderError) as caught,
    ):
        reranker.rerank(QUERY, DOCUMENTS)

    assert caught.value.message == f"reranker at {url} did not answer within 0.2 s"


@pytest.mark.parametrize("url", ["ftp://example.invalid/rerank", "127.0.0.1:8080", "http://[::1"])
def test_an_invalid_url_is_a_provider_error(url: str) -> None:
    with RemoteReranker(url=url) as reranker, pytest.raises(ProviderError) as caught:
        reranker.rerank(QUERY, DOCUMENTS)

    assert caught.value.message == f"retrieval.rerank_url {url!r} is not a valid http(s) URL"


@pytest.mark.parametrize("kind", BAD_RERANK)
def test_nonsense_is_a_provider_error(server_url: str, kind: str) -> None:
    url = f"{server_url}/bad/{kind}/v1/rerank"
    with RemoteReranker(url=url) as reranker, pytest.raises(ProviderError) as caught:
        reranker.rerank(QUERY, DOCUMENTS)

    message = caught.value.message
    assert message.startswith(f"reranker at {url} ")
    assert "secret internals" not in message


def test_make_reranker_is_none_without_a_url() -> None:
    assert make_reranker(RetrievalSettings()) is None


def test_make_reranker_uses_the_settings(server_url: str, seen: Seen) -> None:
    settings = RetrievalSettings(
        rerank_url=f"{server_url}/v1/rerank", rerank_model="bge-reranker", rerank_api_key="k"
    )

    reranker = make_reranker(settings)

    assert isinstance(reranker, RemoteReranker)
    typed: Reranker = reranker
    assert len(typed.rerank(QUERY, DOCUMENTS)) == len(DOCUMENTS)
    reranker.close()
    assert seen.rerank_bodies[0]["model"] == "bge-reranker"
    assert seen.authorization == ["Bearer k"]
