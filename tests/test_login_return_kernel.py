"""The login button in a real kernel: the messages its page sends (an environment report, a
relayed answer, a refusal) and the kernel's loopback listener, against the sandbox.

Every scenario ends with no code, token or verifier in what the kernel published: outputs,
widget state and its updates.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver, relay_answer

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]
LOOPBACK = "http://127.0.0.1/zapier-nb/callback"
LAB_ORIGIN = "http://127.0.0.1:18888"


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start(redirect_uri: str | None = None) -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env.update(
            ZAPIER_BASE_URL=sandbox.base_url,
            ZAPIER_CLIENT_ID=sandbox.client_id,
            ZAPIER_REDIRECT_URI=redirect_uri or sandbox.redirect_uri,
        )
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("%load_ext zapier_nb\n%zapier_login")
        return driver

    yield start
    for driver in started:
        driver.close()
        assert_no_secrets([driver.transcript(), json.dumps(driver.widgets)], sandbox)


def button(k: KernelDriver) -> dict[str, Any]:
    return k.widgets[k.find("zapier-nb-login-link")]


def report(k: KernelDriver, sandbox: Sandbox, **extension: Any) -> None:
    """What the button's page reports on render: a JupyterLab at LAB_ORIGIN with the extension."""
    ping = {
        "zapier_nb": "0.1.0",
        "callback": "/zapier-nb/callback",
        "sandbox": sandbox.base_url,
        "sandbox_proxy": "/zapier-nb/sandbox",
        **extension,
    }
    k.send_custom(
        k.find("zapier-nb-login-link"),
        {"event": "environment", "origin": LAB_ORIGIN, "base_url": "/", "extension": ping},
    )


def status(k: KernelDriver) -> str:
    return str(k.value("zapier-nb-status"))


def test_the_report_opens_the_sandbox_through_the_server_and_says_it_comes_back(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    before = button(k)["url"]
    assert before.startswith(sandbox.base_url + "/oauth/authorize/?")
    report(k, sandbox)
    after = button(k)["url"]
    assert after == LAB_ORIGIN + "/zapier-nb/sandbox" + before.removeprefix(sandbox.base_url)
    assert "comes back automatically" in button(k)["how"]
    assert 'data-testid="zapier-nb-status"' in status(k)


def test_a_relayed_answer_logs_in_with_nothing_pasted_and_repeats_are_refused(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    report(k, sandbox)
    consent = button(k)["url"].replace(LAB_ORIGIN + "/zapier-nb/sandbox", sandbox.base_url)
    redirected = sandbox.approve(consent)
    relay_answer(k, redirected)
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert sandbox.count("token:authorization_code") == 1
    relay_answer(k, redirected)
    # A second copy of the answer that logged in changes nothing and points at nothing.
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert "&#9888;" not in status(k)
    assert sandbox.count("token") == 1


def test_a_stale_state_a_foreign_origin_and_a_denial_make_no_token_request(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    report(k, sandbox)
    consent = button(k)["url"].replace(LAB_ORIGIN + "/zapier-nb/sandbox", sandbox.base_url)
    redirected = sandbox.approve(consent)
    relay_answer(k, redirected.replace("state=", "state=stale"))
    assert "different login attempt (its state does not match" in status(k)
    comm = k.find("zapier-nb-login-link")
    k.send_custom(comm, {"event": "oauth-refused", "reason": "origin", "origin": "https://x.test"})
    assert "from another site (https://x.test) was ignored" in status(k)
    relay_answer(k, sandbox.approve(consent, deny=True))
    assert "Access was declined" in status(k)
    assert sandbox.count("token") == 0
    # The declined attempt is over: the button offers a new one, with a new state.
    fresh = button(k)["url"].replace(LAB_ORIGIN + "/zapier-nb/sandbox", sandbox.base_url)
    assert parse_qs(urlsplit(fresh).query)["state"] != parse_qs(urlsplit(consent).query)["state"]
    relay_answer(k, sandbox.approve(consent))
    assert "That login already ended: access was declined there" in status(k)
    assert sandbox.count("token") == 0
    relay_answer(k, sandbox.approve(fresh))
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert sandbox.count("token") == 1


def test_without_the_extension_the_widget_says_to_paste(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.send_custom(
        k.find("zapier-nb-login-link"),
        {"event": "environment", "origin": LAB_ORIGIN, "base_url": "/", "extension": None},
    )
    assert button(k)["url"].startswith(sandbox.base_url)
    assert "paste the address you land on" in button(k)["how"]


def _get(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_the_loopback_listener_logs_the_widget_in(kernel: Kernel, sandbox: Sandbox) -> None:
    sandbox.add_redirect_uri(LOOPBACK)
    k = kernel(LOOPBACK)
    url = button(k)["url"]
    redirect = parse_qs(urlsplit(url).query)["redirect_uri"][0]
    assert redirect.startswith("http://127.0.0.1:")
    assert redirect.endswith("/zapier-nb/callback")
    assert "comes back to the kernel by itself" in button(k)["how"]
    code, page = _get(sandbox.approve(url))
    assert code == 200
    assert "Logged in to Zapier AI Actions as ada@example.com" in page
    k.run("import time; time.sleep(0.3)")  # the widget's update arrives from the listener
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert sandbox.count("token:authorization_code") == 1


def test_the_redirect_uri_magic_uses_what_the_browser_reported(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    before = k.run("%zapier_redirect_uri").data("text/plain")
    assert "http://127.0.0.1/zapier-nb/callback" in before
    # Under Run All the browser has not reported yet: the answer says it waits for it.
    assert "This answer waits for the notebook's browser" in before
    k.send_custom(
        k.find("zapier-nb-login-link"),
        {
            "event": "environment",
            "origin": "https://hub.example.org",
            "base_url": "/user/alice/",
            "hub_prefix": "/hub/",
            "hub_user": "alice",
            "extension": {"callback": "/user/alice/zapier-nb/callback"},
        },
    )
    after = k.run("%zapier_redirect_uri")
    assert "https://hub.example.org/hub/user-redirect/zapier-nb/callback" in after.data("text/html")
    assert "JupyterHub" in after.data("text/plain")
    assert "waits for the notebook's browser" not in after.data("text/plain")
    reply = k.run("import zapier_nb; print(zapier_nb.redirect_uri())")
    assert reply.stdout.strip() == "https://hub.example.org/hub/user-redirect/zapier-nb/callback"


def test_with_loopback_a_logout_and_a_denial_each_offer_a_new_login_without_a_hang(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    """Beginning a login through the listener notifies the widget, which asks the listener
    table again: that must not wait on a lock its own thread holds."""
    sandbox.add_redirect_uri(LOOPBACK)
    k = kernel(LOOPBACK)
    first = button(k)["url"]
    code, _ = _get(sandbox.approve(first))
    assert code == 200
    k.run("%zapier_logout", timeout=20)
    k.run("1", timeout=20)  # the next login is begun once the cell has run
    second = button(k)["url"]
    assert second
    assert parse_qs(urlsplit(second).query)["state"] != parse_qs(urlsplit(first).query)["state"]
    code, page = _get(sandbox.approve(second, deny=True))
    assert code == 400
    assert "declined" in page
    k.run("import time; time.sleep(0.3)", timeout=20)
    assert "declined" in status(k)
    third = button(k)["url"]
    assert third not in (first, second)
    code, _ = _get(sandbox.approve(third))
    assert code == 200
    k.run("import time; time.sleep(0.3)", timeout=20)
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert sandbox.count("token:authorization_code") == 2


def test_rerunning_the_login_magic_with_a_loopback_uri_keeps_the_session(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    sandbox.add_redirect_uri(LOOPBACK)
    k = kernel(LOOPBACK)
    code, _ = _get(sandbox.approve(button(k)["url"]))
    assert code == 200
    k.run("import time; time.sleep(0.3)", timeout=20)
    k.run(f"%zapier_login --redirect-uri {LOOPBACK}", timeout=20)
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert "ada@example.com" in k.run("%zapier_check").data("text/plain")
