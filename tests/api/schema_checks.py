"""Schemathesis checks of docchat's own, loaded by the schema tests (``SCHEMATHESIS_HOOKS``)."""

from __future__ import annotations

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance


@schemathesis.check
def accepted_within_the_models_window(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis's ``positive_data_acceptance``, but for the refusal a schema cannot state: a
    question and instructions that fill the model's window (the schema's lengths are in
    characters, a window in tokens; 10,000 characters of instructions may be 40,000 tokens).
    That refusal is a 422 of its own code, documented in the operation's description."""
    if response.status_code == 422 and _code(response) == "context_length_exceeded":
        return None
    return positive_data_acceptance(ctx, response, case)


def _code(response: schemathesis.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None
