"""Fixtures of the sandbox's own tests: the shared server, reset, and a plain HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from zapier_nb.sandbox import Sandbox


@pytest.fixture
def sb(zapier_sandbox: Sandbox) -> Iterator[Sandbox]:
    yield zapier_sandbox
    zapier_sandbox.reset()


@pytest.fixture
def http(sb: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sb.base_url, timeout=10) as client:
        yield client
