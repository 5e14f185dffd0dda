"""The sandbox's MCP tools: the built-in demo actions, and tools a test or benchmark adds.

Each demo action becomes a tool named after its app and action
(`google_sheets_lookup_spreadsheet_row`), whose arguments are the action's inputs plus an
optional `instructions` text: an input left out is read from the instructions by the same
rules the AI Actions endpoints use (`_demo_actions`). A run answers its records twice, as
JSON text and as structured content `{"results": [...]}`; a run that fails answers
`isError` with the reason.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import mcp_types as types

from ._demo_actions import CATALOG, ActionSpec, Outcome
from ._mcp_state import CustomTool, MCPExecution, MCPState

__all__ = ["call_tool", "list_tools", "tool_name"]

_INSTRUCTIONS = {
    "type": "string",
    "title": "Instructions",
    "description": "What to do, in plain words; inputs left out are read from it.",
}


def tool_name(spec: ActionSpec) -> str:
    return re.sub(r"[^a-z0-9]+", "_", f"{spec.app_label} {spec.action_label}".lower()).strip("_")


_BUILT_IN: dict[str, ActionSpec] = {tool_name(spec): spec for spec in CATALOG.values()}


def _property(need: dict[str, Any]) -> dict[str, Any]:
    described = need.get("help_text") or ""
    choices = [c["key"] for c in need.get("choices") or []]
    if choices:
        described = (described + " One of: " + ", ".join(choices) + ".").strip()
    schema: dict[str, Any] = {"type": "string", "title": need["label"]}
    if described:
        schema["description"] = described
    return schema


def _built_in_tool(name: str, spec: ActionSpec) -> types.Tool:
    properties = {need["key"]: _property(need) for need in spec.needs}
    properties["instructions"] = dict(_INSTRUCTIONS)
    required = [need["key"] for need in spec.needs if need["required"]]
    return types.Tool(
        name=name,
        title=spec.description,
        description=f"{spec.description} (sandbox demo action, {spec.action_type}).",
        input_schema={"type": "object", "properties": properties, "required": required},
        annotations=types.ToolAnnotations(read_only_hint=spec.action_type != "write"),
    )


def _custom_tool(tool: CustomTool) -> types.Tool:
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema={
            "type": "object",
            "properties": dict(tool.properties),
            "required": list(tool.required),
        },
    )


def list_tools(state: MCPState) -> list[types.Tool]:
    tools = [_built_in_tool(name, spec) for name, spec in _BUILT_IN.items()]
    return tools + [_custom_tool(tool) for tool in state.custom_tools()]


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _failed(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[_text(text)], is_error=True)


def _records(records: list[dict[str, Any]]) -> types.CallToolResult:
    return types.CallToolResult(
        content=[_text(json.dumps(records, ensure_ascii=False))],
        structured_content={"results": records},
    )


def _run_built_in(state: MCPState, spec: ActionSpec, arguments: dict[str, Any]) -> Outcome:
    instructions = str(arguments.get("instructions") or "")
    given = {k: str(v) for k, v in arguments.items() if k != "instructions" and v is not None}
    known = {need["key"] for need in spec.needs}
    unknown = sorted(set(given) - known)
    if unknown:
        return Outcome("error", error=f"Unknown argument: {', '.join(unknown)}.")
    resolved = (
        {**given, **spec.guess(instructions, given, "Ada Lovelace")} if instructions else given
    )
    missing = [n["key"] for n in spec.needs if n["required"] and not resolved.get(n["key"])]
    if missing:
        return Outcome(
            "error",
            error=f"Missing {', '.join(missing)}: give it, or instructions that name it.",
        )
    outcome = spec.run(resolved, instructions)
    if outcome.email is not None and outcome.status == "success":
        with state.lock:
            state.sent_emails.append(dict(outcome.email))
    return outcome


def _run_custom(tool: CustomTool, arguments: dict[str, Any]) -> types.CallToolResult:
    missing = [key for key in tool.required if key not in arguments]
    if missing:
        return _failed(f"Missing {', '.join(missing)}.")
    if tool.run is None:
        return _records([dict(arguments)])
    try:
        answer = tool.run(dict(arguments))
    except Exception as exc:  # a test's tool failing is the tool's error, as on a real server
        return _failed(str(exc))
    if isinstance(answer, bytes):
        data = base64.b64encode(answer).decode("ascii")
        return types.CallToolResult(
            content=[types.ImageContent(type="image", data=data, mime_type="image/png")]
        )
    if isinstance(answer, str):
        return types.CallToolResult(content=[_text(answer)])
    if isinstance(answer, types.CallToolResult):
        return answer
    records = answer if isinstance(answer, list) else [answer]
    return _records(records)


def call_tool(state: MCPState, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """Run a tool (counted, even when it fails); an unknown tool is an error result too."""
    spec = _BUILT_IN.get(name)
    custom = None if spec is not None else state.custom_tool(name)
    if spec is None and custom is None:
        return _failed(f"Unknown tool {name!r}. List the tools to see their names.")
    if spec is not None:
        outcome = _run_built_in(state, spec, arguments)
        if outcome.status == "error":
            result = _failed(outcome.error or "The action failed.")
        else:
            result = _records(outcome.results)
    else:
        assert custom is not None
        result = _run_custom(custom, arguments)
    status = "error" if result.is_error else "success"
    state.record(MCPExecution(name, dict(arguments), status))
    return result
