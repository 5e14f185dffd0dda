"""Links to a sandbox that the Jupyter server fronts go through the server (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zapier_nb._browser_links import browser_url, sandbox_url
from zapier_nb._redirect import Environment, last_environment, remember_environment

SANDBOX = "http://127.0.0.1:8765"
SIGN_UP = f"{SANDBOX}/sign-up/?token=t"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "ZAPIER_BASE_URL", "ZAPIER_NB_SANDBOX_PROXY"):
        monkeypatch.delenv(name, raising=False)
    before = last_environment()
    remember_environment(None)  # type: ignore[arg-type]
    yield
    remember_environment(before)  # type: ignore[arg-type]


def test_nothing_says_the_server_fronts_the_sandbox_so_links_stay() -> None:
    assert browser_url(SIGN_UP, SANDBOX) == SIGN_UP


def test_the_widgets_report_gives_the_browsers_address() -> None:
    remember_environment(
        Environment.from_report(
            {
                "origin": "https://hub.example",
                "base_url": "/user/x/",
                "extension": {
                    "callback": "/user/x/zapier-nb/callback",
                    "sandbox": SANDBOX,
                    "sandbox_proxy": "/user/x/zapier-nb/sandbox",
                },
            }
        )
    )
    shown = browser_url(SIGN_UP, SANDBOX + "/")
    assert shown == "https://hub.example/user/x/zapier-nb/sandbox/sign-up/?token=t"
    assert browser_url(SANDBOX, SANDBOX) == "https://hub.example/user/x/zapier-nb/sandbox"
    assert browser_url("https://actions.zapier.com/x", SANDBOX) == "https://actions.zapier.com/x"
    assert (
        browser_url("http://127.0.0.1:9999/sign-up/", SANDBOX) == "http://127.0.0.1:9999/sign-up/"
    )
    assert sandbox_url(shown, SANDBOX) == SIGN_UP


def test_a_hub_or_binder_kernel_knows_the_prefix_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/x/")
    assert browser_url(SIGN_UP, SANDBOX) == SIGN_UP, "not this server's sandbox"
    monkeypatch.setenv("ZAPIER_BASE_URL", SANDBOX)
    assert browser_url(SIGN_UP, SANDBOX) == "/user/x/zapier-nb/sandbox/sign-up/?token=t"
    monkeypatch.setenv("ZAPIER_NB_SANDBOX_PROXY", "0")
    assert browser_url(SIGN_UP, SANDBOX) == SIGN_UP, "the proxy is switched off"
