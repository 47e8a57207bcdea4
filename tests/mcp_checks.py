"""Shared by the MCP tests of both transports (tests/test_mcp.py, tests/api/test_mcp_api.py):
the handbook in a data dir, and one walk through every tool that both must pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpora import Corpora
from mcp import Client
from mcp.types import CallToolResult, TextContent

from docchat.config import Settings

HANDBOOK = Path(__file__).parent / "data" / "handbook"
TOOLS = {"search_passages", "get_passage", "list_documents", "ask"}


def ingest_handbook(data_dir: Path, corpora: Corpora) -> None:
    """The 15 handbook documents, searchable by words and by meaning, in ``data_dir``'s SQLite
    database: a copy of the run's ingested handbook (tests/corpora.py)."""
    corpora.copy_into(Settings(data_dir=data_dir), [HANDBOOK], collection="handbook")


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful tool call's structured result (the same JSON as its text content)."""
    assert not result.is_error, result.content
    found: dict[str, Any] | None = result.structured_content
    assert found is not None
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert json.loads(content.text) == found
    return found


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    (content,) = result.content
    assert isinstance(content, TextContent)
    assert "Traceback" not in content.text
    return content.text


async def exercise_tools(client: Client) -> None:
    """Every tool, with real results from the handbook, and errors as tool errors.

    Both transports are held to the same answers.
    """
    tools = await client.list_tools()
    assert {tool.name for tool in tools.tools} == TOOLS
    assert all(tool.description and tool.output_schema for tool in tools.tools)

    found = structured(await client.call_tool("search_passages", {"query": "alert E1047"}))
    best = found["passages"][0]
    assert best["file_name"] == "error-codes.md"
    assert "E1047" in best["text"]
    assert set(best) >= {"document_id", "page", "section", "char_start", "char_end", "score"}
    assert 1 <= len(found["passages"]) <= 5

    few = await client.call_tool(
        "search_passages",
        {"query": "dishwasher error", "num_results": 2, "collections": ["handbook"]},
    )
    assert len(structured(few)["passages"]) == 2
    elsewhere = await client.call_tool(
        "search_passages", {"query": "alert E1047", "collections": ["no-such-collection"]}
    )
    assert structured(elsewhere)["passages"] == []
    only = await client.call_tool(
        "search_passages", {"query": "alert E1047", "documents": [best["document_id"]]}
    )
    assert {p["document_id"] for p in structured(only)["passages"]} == {best["document_id"]}

    passage = structured(
        await client.call_tool(
            "get_passage",
            {
                "document_id": best["document_id"],
                "start": best["char_start"],
                "end": best["char_end"],
            },
        )
    )
    assert passage["text"] == best["text"]
    assert passage["file_name"] == "error-codes.md"
    assert passage["section"] == best["section"]

    listed = structured(await client.call_tool("list_documents", {}))["documents"]
    assert sorted(d["file_name"] for d in listed) == sorted(p.name for p in HANDBOOK.iterdir())
    assert all("source" not in d for d in listed)  # a path on the server is not the client's
    assert structured(await client.call_tool("list_documents", {"collection": "other"})) == {
        "documents": []
    }

    answer = structured(
        await client.call_tool("ask", {"question": "How much paid leave do I build up each month?"})
    )
    assert "2.08" in answer["answer"] and not answer["abstained"]
    assert answer["references"][0]["file_name"] == "vacation-policy.md"
    assert "[1]" in answer["answer"]
    follow_up = structured(
        await client.call_tool(
            "ask",
            {"question": "What is the alert E1047?", "session_id": answer["session_id"]},
        )
    )
    assert follow_up["session_id"] == answer["session_id"]

    missing = await client.call_tool(
        "get_passage", {"document_id": "no-such-document", "start": 0, "end": 10}
    )
    assert "document_not_found" in error_text(missing)
    backwards = await client.call_tool(
        "get_passage", {"document_id": best["document_id"], "start": 10, "end": 5}
    )
    assert "invalid_input" in error_text(backwards)
    unknown_session = await client.call_tool("ask", {"question": "Hi?", "session_id": "nope"})
    assert "session_not_found" in error_text(unknown_session)
    too_many = await client.call_tool("search_passages", {"query": "x", "num_results": 10_000})
    assert "num_results" in error_text(too_many)
