"""The Zapier MCP login widget in a real kernel, against the sandbox's MCP server: the
redirect URI it picks from what the page reports, the relayed answer, a denial, the
connection token field, and nothing secret in what the kernel published."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver, relay_answer

from zapier_nb.sandbox import Sandbox

Kernel = Callable[[], KernelDriver]
LAB_ORIGIN = "http://127.0.0.1:18888"


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start() -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env.update(ZAPIER_MCP_URL=sandbox.mcp.url, ZAPIER_NB_TOKEN_CACHE="none")
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("import zapier_nb\nmcp = zapier_nb.MCPSession.from_env()\nmcp.login()")
        return driver

    yield start
    for driver in started:
        driver.close()
        leaked = [driver.transcript(), json.dumps(driver.widgets)]
        assert_no_secrets(leaked, sandbox)
        assert sandbox.mcp.token not in "".join(leaked)


def button(k: KernelDriver) -> dict[str, Any]:
    return k.widgets[k.find("zapier-nb-login-link")]


def report(k: KernelDriver, extension: bool = True) -> None:
    """What the button's page reports on render: a JupyterLab at LAB_ORIGIN."""
    ping = {"zapier_nb": "0.1.0", "callback": "/zapier-nb/callback"} if extension else None
    k.send_custom(
        k.find("zapier-nb-login-link"),
        {"event": "environment", "origin": LAB_ORIGIN, "base_url": "/", "extension": ping},
    )


def status(k: KernelDriver) -> str:
    return str(k.value("zapier-nb-status"))


def query(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def test_the_page_report_picks_the_servers_callback_page_and_the_answer_logs_in(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    assert "Preparing the login" in status(k)
    assert button(k)["url"] == ""
    report(k)
    consent = button(k)["url"]
    assert query(consent, "redirect_uri") == LAB_ORIGIN + "/zapier-nb/callback"
    assert "comes back automatically" in button(k)["how"]
    assert "Click <b>Log in with Zapier</b>" in status(k)
    relay_answer(k, sandbox.mcp.approve(consent))
    assert "Logged in to Zapier MCP" in status(k)
    listed = k.run("print(len(mcp.list_tools()), mcp.auth_method)")
    assert listed.stdout.strip() == "3 oauth"
    assert sandbox.count("mcp_oauth:token:authorization_code") == 1
    assert sandbox.count("mcp_oauth:register") == 1


def test_a_denial_says_so_and_the_button_offers_a_new_attempt(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    report(k)
    consent = button(k)["url"]
    relay_answer(k, sandbox.mcp.approve(consent, deny=True))
    assert "Access was declined" in status(k)
    fresh = button(k)["url"]
    assert fresh
    assert query(fresh, "state") != query(consent, "state")
    relay_answer(k, sandbox.mcp.approve(consent))
    assert "already ended" in status(k)
    relay_answer(k, sandbox.mcp.approve(fresh))
    assert "Logged in to Zapier MCP" in status(k)
    assert sandbox.count("mcp_oauth:token:authorization_code") == 1


def test_without_a_report_prepare_the_login_then_paste_the_address(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    prepare = k.find("zapier-nb-new-login")
    k.send_custom(prepare, {"event": "click"})
    consent = button(k)["url"]
    assert consent
    landed = sandbox.mcp.approve(consent)
    k.send_custom(k.find("zapier-nb-code"), {"event": "submit", "value": landed})
    assert "Logged in to Zapier MCP" in status(k)


def test_a_refused_connection_token_changes_nothing_and_a_good_one_connects(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    field = k.find("zapier-nb-key")
    k.send_custom(field, {"event": "submit", "value": "not-a-token"})
    assert k.widgets[field]["message_kind"] == "error"
    assert "Not logged in" in status(k)
    assert k.run("print(mcp.auth_method)").stdout.strip() == "None"
    k.send_custom(field, {"event": "submit", "value": sandbox.mcp.token})
    assert "Connected: 3 tools" in k.widgets[field]["message"]
    assert "Connected with a connection token" in status(k)
    assert k.run("print(mcp.auth_method)").stdout.strip() == "token"
