"""The pytest plugin, as a project that installed zapier_nb uses it: no import, no conftest.

The example is the README's own, so the README cannot drift from what works.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = Path(__file__).parent.parent / "README.md"
RESET_CHECK = """

def test_each_test_starts_from_a_reset_sandbox(zapier_sandbox, zapier_sandbox_server):
    assert zapier_sandbox is zapier_sandbox_server
    assert zapier_sandbox.count("check") == 0
"""


def readme_example() -> str:
    section = README.read_text().split("## Testing your own code against the sandbox", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's plugin section has no Python example"
    return match.group(1)


def test_a_project_gets_the_sandbox_fixtures_from_the_installed_plugin(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_example=readme_example() + RESET_CHECK)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
