"""The magics and the login widget in a real kernel, driven like a front end over ZMQ."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver, Reply

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start(*, api_key: bool = False, oauth: bool = True) -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env["ZAPIER_BASE_URL"] = sandbox.base_url
        if oauth:
            env.update(ZAPIER_CLIENT_ID=sandbox.client_id, ZAPIER_REDIRECT_URI=sandbox.redirect_uri)
        if api_key:
            env["ZAPIER_API_KEY"] = sandbox.api_key
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("%load_ext zapier_nb")
        return driver

    yield start
    for driver in started:
        driver.close()


def test_load_ext_does_not_import_widgets(kernel: Kernel) -> None:
    k = kernel()
    reply = k.run("import sys; print([m for m in ('ipywidgets', 'anywidget') if m in sys.modules])")
    assert reply.stdout.strip() == "[]"


def test_api_key_from_the_environment_then_a_check_table(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel(api_key=True, oauth=False)
    k.run("%zapier_login")
    assert "Using an API key (sent as the <code>x-api-key</code> header)" in k.value(
        "zapier-nb-status"
    )
    reply = k.run("%zapier_check")
    html, text = reply.data("text/html"), reply.data("text/plain")
    assert "<td" in html
    assert "ada@example.com" in html
    assert "Ada Lovelace" in html
    assert "API key (x-api-key header)" in html
    assert "Email" in text
    assert "ada@example.com" in text
    assert sandbox.count("check") == 1
    assert_no_secrets([k.transcript()], sandbox)


def test_the_result_object_is_kept(kernel: Kernel) -> None:
    k = kernel(api_key=True, oauth=False)
    reply = k.run("r = %zapier_check\nprint(r['Email'], r.data.user_id)")
    assert reply.stdout.strip() == "ada@example.com 1001"


def test_a_check_before_login_says_to_log_in_without_a_traceback(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    reply = k.run("%zapier_check")
    # No login widget is shown in this kernel: the message points at the magic that shows one.
    assert "UsageError: Not logged in: run %zapier_login" in reply.stderr
    assert "widget above" not in reply.stderr
    assert "Traceback" not in reply.stderr
    assert reply.errors == []
    assert sandbox.count("check") == 0


def test_oauth_login_through_the_widget(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    button = k.widgets[k.find("zapier-nb-login-link")]
    assert button["label"] == "Log in with Zapier"
    redirected = sandbox.approve(button["url"])
    k.send_custom(k.find("zapier-nb-code"), {"event": "submit", "value": f" {redirected}\n"})
    status = k.value("zapier-nb-status")
    assert "Logged in as <b>ada@example.com</b>" in status
    assert "The access token is valid until" in status
    reply = k.run("%zapier_check")
    assert "OAuth 2.0 PKCE (Bearer token)" in reply.data("text/html")
    status_reply = k.run("%zapier_status")
    text = status_reply.data("text/plain")
    assert re.search(r"Refresh token held\s+yes", text)
    assert re.search(r"Access token expires\s+\d\d:\d\d:\d\d \S+\n", text)
    assert "openid nla:exposed_actions:execute" in text
    assert sandbox.count("token:authorization_code") == 1
    assert_no_secrets([k.transcript()], sandbox)


def test_a_bad_paste_shows_the_fix_and_a_good_one_still_works(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    k.run("%zapier_login")
    redirected = sandbox.approve(k.widgets[k.find("zapier-nb-login-link")]["url"])
    code_field = k.find("zapier-nb-code")
    k.send_custom(code_field, {"event": "submit", "value": redirected.replace("state=", "state=x")})
    assert "different login attempt" in k.state("zapier-nb-code")["message"]
    k.send_custom(code_field, {"event": "submit", "value": redirected})
    assert "Logged in as" in k.value("zapier-nb-status")


def test_a_wrong_api_key_in_the_widget_says_so(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel(oauth=False)
    k.run("%zapier_login")
    wrong = "sbx_key_definitely-wrong-key"
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": wrong})
    assert "Invalid API key" in k.state("zapier-nb-key")["message"]
    assert wrong not in k.transcript()
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": sandbox.api_key})
    assert "Logged in as <b>ada@example.com</b> with an API key" in k.value("zapier-nb-status")
    assert_no_secrets([k.transcript()], sandbox)


def test_sign_up_link_from_the_widget(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    k.send_update(k.find("zapier-nb-first"), {"value": "Grace"})
    k.send_update(k.find("zapier-nb-last"), {"value": "Hopper"})
    k.send_update(k.find("zapier-nb-email"), {"value": "grace@example.org"})
    button = next(
        cid for cid, s in k.widgets.items() if s.get("description") == "Get a sign-up link"
    )
    k.send_custom(button, {"event": "click"})
    link_html = k.value("zapier-nb-signup-link")
    assert "Create the account and log in" in link_html
    link = link_html.split('href="')[1].split('"')[0].replace("&amp;", "&")
    k.send_custom(
        k.find("zapier-nb-code"), {"event": "submit", "value": sandbox.follow_login_link(link)}
    )
    assert "grace@example.org" in k.value("zapier-nb-status")


def test_login_link_magic_logout_and_config(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        "%zapier_login_link --first-name Alan --last-name Turing --email alan@example.org"
    )
    assert f"{sandbox.base_url}/sandbox/sign-up/" in reply.data("text/html")
    missing = k.run("%zapier_login_link --first-name Alan")
    assert "UsageError" in missing.stderr
    k.run("%zapier_logout")
    k.run("%config ZapierMagics.base_url = 'http://localhost:9'")
    assert "localhost:9" in k.run("%zapier_status").data("text/plain")
    bad = k.run("%config ZapierMagics.base_url = 'http://example.com'\n%zapier_status")
    assert "plain http" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_login_wait_reads_a_hidden_prompt(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()

    def answer(prompt: str, password: bool, reply: Reply) -> str | None:
        url = next((w for w in reply.stdout.split() if "/oauth/authorize/" in w), None)
        return None if url is None else sandbox.approve(url)

    reply = k.run("%zapier_login --wait\n%zapier_check", answer=answer)
    assert reply.prompts == [("Code or address: ", True)]
    assert "Logged in as ada@example.com." in reply.stdout
    assert "ada@example.com" in reply.data("text/html")
    assert_no_secrets([k.transcript()], sandbox)


def test_login_with_a_client_id_means_oauth_even_with_a_key_in_the_environment(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel(api_key=True, oauth=False)
    k.run(
        f"%zapier_login --client-id {sandbox.client_id} --redirect-uri {sandbox.redirect_uri} "
        f"--base-url {sandbox.base_url}/"
    )
    assert "/oauth/authorize/" in k.widgets[k.find("zapier-nb-login-link")]["url"]
    assert "not logged in" in k.run("%zapier_status").data("text/plain")


def test_the_widget_completes_a_login_begun_by_a_sign_up_link(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    reply = k.run(
        "import zapier_nb\n"
        "print(zapier_nb.get_session().login_link("
        "first_name='Grace', last_name='Hopper', email='grace@example.org'))"
    )
    link = reply.stdout.strip()
    k.run("%zapier_login")
    redirected = sandbox.follow_login_link(link)
    k.send_custom(k.find("zapier-nb-code"), {"event": "submit", "value": redirected})
    assert "Logged in as <b>grace@example.org</b>" in k.value("zapier-nb-status")


def test_login_wait_with_a_loopback_uri_ends_when_the_browser_comes_back(
    sandbox: Sandbox,
) -> None:
    import http.client
    from urllib.parse import urlsplit

    loopback = "http://127.0.0.1/zapier-nb/callback"
    sandbox.add_redirect_uri(loopback)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(
        ZAPIER_BASE_URL=sandbox.base_url,
        ZAPIER_CLIENT_ID=sandbox.client_id,
        ZAPIER_REDIRECT_URI=loopback,
    )
    k = KernelDriver(env)
    followed: list[str] = []
    try:

        def answer(prompt: str, password: bool, reply: Reply) -> str | None:
            url = next((w for w in reply.stdout.split() if "/oauth/authorize/" in w), None)
            if url is not None and not followed:
                redirected = urlsplit(sandbox.approve(url))
                connection = http.client.HTTPConnection(redirected.netloc, timeout=10)
                connection.request("GET", f"{redirected.path}?{redirected.query}")
                followed.append(connection.getresponse().read().decode())
                connection.close()
            return None  # the prompt is never answered: the listener must end it

        reply = k.run("%load_ext zapier_nb\n%zapier_login --wait\n%zapier_check", answer=answer)
        assert followed, "the consent URL should have been printed"
        assert "Logged in to Zapier AI Actions as ada@example.com" in followed[0]
        assert reply.prompts == []
        assert "Logged in as ada@example.com." in reply.stdout
        assert "ada@example.com" in reply.data("text/html")
        assert reply.errors == []
        assert sandbox.count("token:authorization_code") == 1
        assert_no_secrets([k.transcript()], sandbox)
    finally:
        k.close()
