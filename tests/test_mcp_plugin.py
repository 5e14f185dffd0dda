"""The pytest plugin's sandbox serves MCP too, reset between a project's tests."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = """
import zapier_nb


def test_my_code_calls_a_tool(zapier_sandbox):
    with zapier_nb.MCPSession(token=zapier_sandbox.mcp.token, url=zapier_sandbox.mcp.url) as mcp:
        result = mcp.call_tool("gmail_send_email", {"to": "ada@example.com"})
    assert result.records[0]["status"] == "sent"
    assert zapier_sandbox.mcp.execution_count() == 1


def test_the_next_test_starts_from_zero(zapier_sandbox):
    assert zapier_sandbox.mcp.execution_count() == 0
    assert zapier_sandbox.mcp.sent_emails() == []
"""


def test_a_project_gets_an_mcp_server_from_the_sandbox_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
