"""Which redirect URI to register, and how the answer comes back, from what the browser
reported and the kernel's environment (pure logic; the real paths are tested elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest

import zapier_nb
from zapier_nb._redirect import Environment, capture_for, redirect_uri

SANDBOX = "http://127.0.0.1:8765"
EXTENSION = {"zapier_nb": "0.1.0", "callback": "/user/alice/zapier-nb/callback"}


def env(**report: Any) -> Environment:
    return Environment.from_report(report)


HUB = env(
    origin="https://hub.example.org",
    base_url="/user/alice/",
    hub_prefix="/hub/",
    hub_user="alice",
    extension=EXTENSION,
)
REMOTE = env(
    origin="https://jupyter.example.org",
    base_url="/team/",
    extension={"callback": "/team/zapier-nb/callback"},
)
LOCAL = env(origin="http://localhost:8888", base_url="/", extension={"callback": "/zapier-nb/"})


@pytest.mark.parametrize(
    ("environment", "environ", "uri", "where"),
    [
        (HUB, {}, "https://hub.example.org/hub/user-redirect/zapier-nb/callback", "JupyterHub"),
        (
            None,
            {
                "JUPYTERHUB_SERVICE_PREFIX": "/user/bob/",
                "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
                "JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/hub/",
            },
            "https://hub.example.org/hub/user-redirect/zapier-nb/callback",
            "JupyterHub",
        ),
        (
            None,
            {"JUPYTERHUB_SERVICE_PREFIX": "/u/", "JUPYTERHUB_API_URL": "http://h/hub/api"},
            "https://HUB/hub/user-redirect/zapier-nb/callback",
            "JupyterHub",
        ),
        (REMOTE, {}, "https://jupyter.example.org/team/zapier-nb/callback", "a Jupyter server"),
        (LOCAL, {}, "http://127.0.0.1/zapier-nb/callback", "a local Jupyter server"),
        (None, {}, "http://127.0.0.1/zapier-nb/callback", "this machine"),
        (env(origin="vscode-webview://x", vscode=True), {}, "http://127.0.0.1/zapier-nb/callback",
         "VS Code"),
        (None, {"COLAB_RELEASE_TAG": "release-x"}, None, "Google Colab"),
        (env(origin="https://x.googleusercontent.com", colab=True), {}, None, "Google Colab"),
        (None, {"BINDER_REPO_URL": "https://github.com/o/r"}, None, "Binder"),
    ],
)  # fmt: skip
def test_the_uri_to_register_where_you_are(
    environment: Environment | None, environ: dict[str, str], uri: str | None, where: str
) -> None:
    advice = redirect_uri(environment, environ=environ)
    assert advice.uri == uri
    assert advice.where.startswith(where)
    assert str(advice) == (uri or "")
    assert (uri or "(none can be registered here)") in repr(advice)
    assert advice.how
    assert advice.fallback.startswith("Paste") or "paste" in advice.fallback


def test_a_remote_server_without_the_extension_says_to_install_it() -> None:
    advice = redirect_uri(env(origin="https://j.example.org", base_url="/"), environ={})
    assert advice.uri == "https://j.example.org/zapier-nb/callback"
    assert "extension is not loaded" in advice.how


def test_the_public_function_and_its_html_escape() -> None:
    advice = zapier_nb.redirect_uri(env(origin="https://a.example/<b>", base_url="/"))
    assert "<b>" not in advice._repr_html_()
    assert "&lt;b&gt;" in advice._repr_html_()


@pytest.mark.parametrize(
    ("redirect", "environment", "mode"),
    [
        (f"{SANDBOX}/sandbox/callback/",
         env(origin="https://binder.example", base_url="/user/x/",
             extension={"callback": "/user/x/zapier-nb/callback", "sandbox": SANDBOX,
                        "sandbox_proxy": "/user/x/zapier-nb/sandbox"}),
         "sandbox-proxy"),
        (f"{SANDBOX}/sandbox/callback/", env(origin="https://b.example", extension=None), "paste"),
        ("https://hub.example.org/hub/user-redirect/zapier-nb/callback", HUB, "extension"),
        ("https://jupyter.example.org/team/zapier-nb/callback", REMOTE, "extension"),
        ("http://127.0.0.1:8888/zapier-nb/callback",
         env(origin="http://localhost:8888", extension={"callback": "/zapier-nb/callback"}),
         "paste"),  # another host spelling: no Jupyter cookie there
        ("http://127.0.0.1/zapier-nb/callback", LOCAL, "loopback"),
        ("http://127.0.0.1/zapier-nb/callback", None, "loopback"),
        ("http://127.0.0.1/zapier-nb/callback", REMOTE, "paste"),
        ("https://my.example/page", REMOTE, "paste"),
        ("https://jupyter.example.org/team/zapier-nb/callback", None, "paste"),
    ],
)  # fmt: skip
def test_how_the_answer_comes_back(
    redirect: str, environment: Environment | None, mode: str
) -> None:
    capture = capture_for(redirect, SANDBOX, environment)
    assert capture.mode == mode
    assert capture.line


def test_the_sandbox_consent_url_is_rewritten_only_for_the_proxy() -> None:
    binder = env(
        origin="https://binder.example",
        base_url="/user/x/",
        extension={"callback": "/user/x/zapier-nb/callback", "sandbox": SANDBOX,
                   "sandbox_proxy": "/user/x/zapier-nb/sandbox"},
    )  # fmt: skip
    consent = f"{SANDBOX}/oauth/authorize/?client_id=a&state=s"
    capture = capture_for(f"{SANDBOX}/sandbox/callback/", SANDBOX, binder)
    assert capture.browser_url(consent, SANDBOX) == (
        "https://binder.example/user/x/zapier-nb/sandbox/oauth/authorize/?client_id=a&state=s"
    )
    assert capture_for("https://x/p", SANDBOX, binder).browser_url(consent, SANDBOX) == consent


def test_a_report_with_junk_is_read_safely() -> None:
    read = Environment.from_report(
        {"origin": "javascript:alert(1)", "base_url": 5, "extension": "yes", "vscode": "true"}
    )
    assert read.origin is None
    assert read.base_url == "/"
    assert not read.extension
    assert read.vscode is False
