"""The pytest plugin, as a project that installed zapier_nb uses it: no import, no conftest.

The example is the one in docs/pytest-plugin.md, so the page cannot drift from what works.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PAGE = Path(__file__).parent.parent / "docs" / "pytest-plugin.md"
RESET_CHECK = """

def test_each_test_starts_from_a_reset_sandbox(zapier_sandbox, zapier_sandbox_server):
    assert zapier_sandbox is zapier_sandbox_server
    assert zapier_sandbox.count("check") == 0
"""


def documented_example() -> str:
    match = re.search(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert match, "docs/pytest-plugin.md has no Python example"
    return match.group(1)


def test_a_project_gets_the_sandbox_fixtures_from_the_installed_plugin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_example=documented_example() + RESET_CHECK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
