"""The published OpenAPI document: FastAPI's, with the model names this server accepts.

Which models exist is configuration, not code, so the request models declare ``model`` as a plain
string; generated clients and fuzzers then sent any string and met a 422 ("unknown model").  Here
those fields become enums of the names the server checks against (``ModelCatalog.names``, and the
``/v1`` ids built from them).  Responses keep a plain string: a stored session may name a model
that was configured once and is no longer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI

#: (component, property) of the requests whose ``model`` names one of ``ModelCatalog.names``.
NAMED_MODEL_FIELDS = (("ChatRequest", "model"), ("SettingsUpdate", "model"))
#: The settings a new session is created with: ``ChatSettings`` as a request.
NEW_SESSION_SETTINGS = "NewSessionSettings"


def with_model_names(
    schema: dict[str, Any], names: Sequence[str], openai_ids: Sequence[str]
) -> dict[str, Any]:
    """``schema`` with each request's ``model`` an enum of ``names`` (or, at ``/v1``, of
    ``openai_ids``); changed in place and returned.  Applying it twice changes nothing more."""
    components: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    for component, field in NAMED_MODEL_FIELDS:
        if component in components:
            _narrow(components[component]["properties"], field, names)
    if "CompletionRequest" in components:
        _narrow(components["CompletionRequest"]["properties"], "model", openai_ids)
    create = components.get("SessionCreate", {}).get("properties", {}).get("settings")
    if create is not None and "ChatSettings" in components:
        # The create body shares ChatSettings with responses: a copy of its own gets the enum.
        request_settings = copy.deepcopy(components["ChatSettings"])
        request_settings["title"] = NEW_SESSION_SETTINGS
        _narrow(request_settings["properties"], "model", names)
        components[NEW_SESSION_SETTINGS] = request_settings
        for option in create.get("anyOf", [create]):
            if option.get("$ref", "").endswith("/ChatSettings"):
                option["$ref"] = f"#/components/schemas/{NEW_SESSION_SETTINGS}"
    return schema


def _narrow(properties: dict[str, Any], field: str, values: Sequence[str]) -> None:
    current = properties[field]
    enum = {"type": "string", "enum": list(values)}
    nullable = any(option.get("type") == "null" for option in current.get("anyOf", []))
    keep = {k: v for k, v in current.items() if k in ("title", "description", "default")}
    properties[field] = {"anyOf": [enum, {"type": "null"}], **keep} if nullable else enum | keep


def publish_model_names(
    app: FastAPI, names: Sequence[str], openai_ids: Sequence[str]
) -> Callable[[], dict[str, Any]]:
    """Make ``app.openapi()`` (what ``/openapi.json`` serves) carry the model enums."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches its document in app.openapi_schema; narrowing it again is harmless.
        return with_model_names(generate(), names, openai_ids)

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return openapi
