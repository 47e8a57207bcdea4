"""ModelCatalog and the llm settings: names, descriptions without keys, one instance per model."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
from pydantic import SecretStr, ValidationError

from docchat.config import LLMSettings, ModelSettings, Settings
from docchat.errors import InvalidInput, ProviderError
from docchat.llm import local
from docchat.llm.local import LocalGGUFModel
from docchat.llm.models import ModelCatalog
from docchat.llm.openai_compat import OpenAICompatibleModel

SECRET = "sk-test-SECRET-0123456789"


def remote(**options: object) -> ModelSettings:
    return ModelSettings.model_validate(
        {"base_url": "http://127.0.0.1:9/v1", "api_key": SECRET, **options}
    )


def test_built_in_names() -> None:
    catalog = ModelCatalog(LLMSettings())
    assert catalog.names() == ["extractive", "smollm2", "qwen-0.5b"]
    extractive, smollm2, _qwen = catalog.describe()
    assert (extractive.provider, extractive.available, extractive.default) == (
        "extractive",
        True,
        True,
    )
    assert extractive.context_window is None
    assert smollm2.provider == "local" and smollm2.available and not smollm2.default
    assert smollm2.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2.context_window == 2048
    assert smollm2.unavailable_reason is None


def test_describe_never_shows_a_key() -> None:
    settings = LLMSettings(models={"gpt": remote(model="gpt-4o-mini")}, default_model="gpt")
    catalog = ModelCatalog(settings)
    infos = catalog.describe()
    gpt = infos[-1]
    assert (gpt.name, gpt.provider, gpt.model, gpt.context_window, gpt.default) == (
        "gpt",
        "openai",
        "gpt-4o-mini",
        4096,
        True,
    )
    shown = json.dumps([dataclasses.asdict(info) for info in infos]) + repr(infos)
    assert "SECRET" not in shown
    assert "SECRET" not in repr(settings) and "SECRET" not in settings.model_dump_json()


def test_unknown_name_lists_the_known_ones() -> None:
    catalog = ModelCatalog(LLMSettings(models={"gpt": remote()}))
    with pytest.raises(InvalidInput) as caught:
        catalog.get("gtp")
    assert caught.value.field == "model"
    assert caught.value.message == (
        "unknown model 'gtp'; known models: extractive, smollm2, qwen-0.5b, gpt"
    )


def test_extractive_is_no_chat_model() -> None:
    catalog = ModelCatalog(LLMSettings())
    assert catalog.get("extractive") is None
    assert catalog.get(None) is None  # the default


def test_models_are_created_once_and_shared() -> None:
    catalog = ModelCatalog(LLMSettings(models={"gpt": remote()}, default_model="gpt"))
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(catalog.get("gpt"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first = got[0]
    assert isinstance(first, OpenAICompatibleModel)
    assert all(model is first for model in got)
    assert catalog.get(None) is first
    assert (first.name, first.model, first.context_window) == ("gpt", "gpt", 4096)
    catalog.close()
    assert first._client.is_closed()
    assert catalog.get("gpt") is not first  # created again after close


def test_smollm2_as_the_default() -> None:
    with ModelCatalog(LLMSettings(default_model="smollm2")) as catalog:
        model = catalog.get(None)
        # Created, not loaded: the weights load on first use (tests/llm/test_local.py).
        assert isinstance(model, LocalGGUFModel) and model._llm is None
        assert (model.name, model.context_window, model.max_output_tokens) == ("smollm2", 2048, 256)


def test_smollm2_unavailable_without_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = local.importlib.util.find_spec
    monkeypatch.setattr(
        local.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "llama_cpp" else find_spec(name, *args),
    )
    catalog = ModelCatalog(LLMSettings())
    smollm2 = catalog.describe()[1]
    assert not smollm2.available
    assert "pip install 'docchat[local-llm]'" in (smollm2.unavailable_reason or "")
    with pytest.raises(ProviderError) as caught:
        catalog.get("smollm2")
    assert caught.value.kind == "unavailable" and caught.value.model == "smollm2"
    assert catalog.get("extractive") is None  # the offline default never needs it


def test_a_configured_local_file() -> None:
    gguf = local.smollm2_path()
    settings = LLMSettings(
        models={"tiny": ModelSettings(provider="local", model_path=gguf, context_window=1024)}
    )
    catalog = ModelCatalog(settings)
    tiny = catalog.describe()[-1]
    assert (tiny.name, tiny.model, tiny.context_window, tiny.available) == (
        "tiny",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        1024,
        True,
    )
    model = catalog.get("tiny")
    assert isinstance(model, LocalGGUFModel) and model.context_window == 1024


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "DOCCHAT_LLM__MODELS",
        json.dumps(
            {
                "local": {
                    "provider": "openai",
                    "base_url": "http://127.0.0.1:8080/v1",
                    "model": "smollm2",
                    "api_key": SECRET,
                    "context_window": 2048,
                }
            }
        ),
    )
    monkeypatch.setenv("DOCCHAT_LLM__DEFAULT_MODEL", "local")
    llm = Settings().llm
    assert llm.default_model == "local"
    entry = llm.models["local"]
    assert entry.api_key == SecretStr(SECRET)
    assert (entry.model, entry.effective_context_window, entry.max_retries) == ("smollm2", 2048, 2)
    model = ModelCatalog(llm).get(None)
    assert isinstance(model, OpenAICompatibleModel) and model.model == "smollm2"
    model.close()


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"models": {"extractive": {"base_url": "http://x/v1"}}}, "built in"),
        ({"default_model": "nope"}, "not one of"),
        ({"models": {"gpt": {"provider": "openai"}}}, "base_url is required"),
        (
            {"models": {"gpt": {"base_url": "http://x/v1", "max_output_tokens": 4096}}},
            "smaller than context_window",
        ),
        ({"models": {" gpt": {"base_url": "http://x/v1"}}}, "printable"),
        ({"models": {"gpt": {"base_url": "http://x/v1", "apikey": "k"}}}, "Extra inputs"),
    ],
)
def test_settings_refuse_nonsense(value: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        LLMSettings.model_validate(value)
