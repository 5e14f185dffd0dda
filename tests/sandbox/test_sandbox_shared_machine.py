"""The sandbox on a machine with other users: what they can take, plant or exhaust.

Another user is a real second Unix user (`other_user`), skipped where the machine cannot
make one. The sandbox under test is the shared one, run by this test's user.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from other_user import OtherUser, made_other_user
from wire import authorize_url, make_pkce, query_of

from zapier_nb.sandbox import Sandbox
from zapier_nb.sandbox._ownership import OWNER_HEADER, owner_signature
from zapier_nb.sandbox._state import MAX_PENDING

FETCH = """
import sys, urllib.request
request = urllib.request.Request(sys.argv[1])
for header in sys.argv[2:]:
    name, _, value = header.partition(": ")
    request.add_header(name, value)
with urllib.request.urlopen(request, timeout=20) as answer:
    print(answer.read().decode())
"""


@pytest.fixture(scope="module")
def mallory() -> Iterator[OtherUser]:
    with made_other_user() as user:
        yield user


def consent_page(http: httpx2.Client, sb: Sandbox) -> str:
    _, challenge = make_pkce()
    page = http.get(authorize_url(sb, challenge))
    assert page.status_code == 200
    return page.text


def transaction_of(page: str) -> str:
    found = re.search(r'name="transaction" value="([^"]+)"', page)
    assert found
    return found.group(1)


def test_pending_consent_pages_are_capped_and_expire(sb: Sandbox, http: httpx2.Client) -> None:
    first = transaction_of(consent_page(http, sb))
    for _ in range(MAX_PENDING):
        consent_page(http, sb)
    assert sb._state.pending_count() <= MAX_PENDING
    refused = http.post("/oauth/authorize/", data={"transaction": first, "decision": "approve"})
    assert refused.status_code == 400
    assert "Start the login again" in html.unescape(refused.text)
    newest = transaction_of(consent_page(http, sb))
    approved = http.post("/oauth/authorize/", data={"transaction": newest, "decision": "approve"})
    assert approved.status_code == 302

    sb._state.pending_ttl = 0.2
    try:
        stale = transaction_of(consent_page(http, sb))
        time.sleep(0.3)
        late = http.post("/oauth/authorize/", data={"transaction": stale, "decision": "approve"})
    finally:
        sb._state.pending_ttl = 900.0
    assert late.status_code == 400


def test_pending_sign_up_links_are_capped(sb: Sandbox, http: httpx2.Client) -> None:
    def link() -> str:
        answer = http.get("/api/v2/auth/login-link/", params={"sign_up_email": "x@example.org"})
        return str(answer.json()["login_link"])

    first = query_of(link())["t"]
    for _ in range(MAX_PENDING):
        link()
    assert sb._state.pending_count() <= MAX_PENDING
    assert http.get("/sandbox/sign-up/", params={"t": first}).status_code == 400


def test_a_user_cookie_set_by_another_local_site_does_not_choose_who_approves(
    sb: Sandbox, http: httpx2.Client
) -> None:
    _, challenge = make_pkce()
    link = http.get(
        "/api/v2/auth/login-link/",
        params={"redirect_uri": authorize_url(sb, challenge), "sign_up_email": "eve@example.org"},
    ).json()["login_link"]
    with httpx2.Client(base_url=sb.base_url, timeout=10) as eve:
        assert eve.post("/sandbox/sign-up/", data={"t": query_of(link)["t"]}).status_code == 303
        assert "eve@example.org" in consent_page(eve, sb)
    eve_id = next(u.user_id for u in sb.users if u.email == "eve@example.org")
    # Cookies are shared by every port of 127.0.0.1: another user's page can set this one.
    with httpx2.Client(base_url=sb.base_url, cookies={"sandbox_user": str(eve_id)}) as planted:
        page = consent_page(planted, sb)
    assert "ada@example.com" in page
    assert "eve@example.org" not in page
    with httpx2.Client(
        base_url=sb.base_url, cookies={"sandbox_user": sb.user_cookie("eve@example.org")}
    ) as signed:
        assert "eve@example.org" in consent_page(signed, sb)


def test_another_user_sees_the_home_page_without_the_key(sb: Sandbox, mallory: OtherUser) -> None:
    seen = mallory.run_python(FETCH, sb.base_url + "/")
    assert seen.returncode == 0, seen.stderr
    assert "Zapier AI Actions sandbox" in seen.stdout
    assert sb.api_key not in seen.stdout
    assert "one-time link" in seen.stdout
    # A forged owner header does not help.
    nonce = httpx2.get(sb.base_url + "/sandbox/proof/").headers["x-zapier-nb-nonce"]
    forged = mallory.run_python(FETCH, sb.base_url + "/", f"{OWNER_HEADER}: {nonce} {'0' * 64}")
    assert sb.api_key not in forged.stdout


def test_another_user_gets_no_mcp_connection_token(sb: Sandbox, mallory: OtherUser) -> None:
    if not sb.mcp.served:
        pytest.skip("the sandbox serves MCP only with the mcp extra installed")
    home = mallory.run_python(FETCH, sb.base_url + "/")
    assert home.returncode == 0, home.stderr
    assert sb.mcp.token not in home.stdout
    tokens = mallory.run_python(FETCH, sb.base_url + "/sandbox/mcp/")
    assert sb.mcp.token not in tokens.stdout + tokens.stderr
    assert "HTTP Error 403" in tokens.stderr
    link = sb.home_link()
    with httpx2.Client(timeout=10) as browser:
        opened = browser.get(link)
    cookie = f"Cookie: sandbox_owner={opened.cookies['sandbox_owner']}"
    shown = mallory.run_python(FETCH, sb.base_url + "/sandbox/mcp/", cookie)
    assert sb.mcp.token in shown.stdout, "the owner's browser still sees its tokens"


def test_the_owners_proxy_and_the_one_time_link_show_the_key(
    sb: Sandbox, mallory: OtherUser
) -> None:
    """Both work from any process: here another user's stands in for the owner's browser."""
    nonce = httpx2.get(sb.base_url + "/sandbox/proof/").headers["x-zapier-nb-nonce"]
    signature = owner_signature(sb._state.proof_key, nonce)
    proxied = mallory.run_python(FETCH, sb.base_url + "/", f"{OWNER_HEADER}: {nonce} {signature}")
    assert f'<code id="api-key">{sb.api_key}</code>' in proxied.stdout
    again = mallory.run_python(FETCH, sb.base_url + "/", f"{OWNER_HEADER}: {nonce} {signature}")
    assert sb.api_key not in again.stdout, "an owner nonce is good once"

    link = sb.home_link()
    with httpx2.Client(timeout=10) as browser:
        opened = browser.get(link)
        assert opened.status_code == 303
        assert opened.cookies.get("sandbox_owner")
    cookie = f"Cookie: sandbox_owner={opened.cookies['sandbox_owner']}"
    shown = mallory.run_python(FETCH, sb.base_url + "/", cookie)
    assert f'<code id="api-key">{sb.api_key}</code>' in shown.stdout
    reused = httpx2.get(link)
    assert reused.status_code == 400
    assert "already used" in reused.text


def test_help_says_what_the_sandbox_trusts() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "zapier_nb.sandbox", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "what it trusts:" in shown
    assert "one-time" in shown
    assert "~/.local/state/zapier_nb/sandboxes/" in shown
    assert "8765" not in shown


def run_cli(env_file: Path) -> tuple[dict[str, str], str]:
    """`python -m zapier_nb.sandbox --env-file`, until its settings are written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "zapier_nb.sandbox", "--env-file", str(env_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if env_file.is_file() and not env_file.is_symlink() and env_file.read_text():
                break
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.05)
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    finally:
        process.terminate()
        banner = process.communicate(timeout=20)[0]
    return settings, banner


def test_the_command_line_sandbox_binds_a_free_port_and_suggests_none(tmp_path: Path) -> None:
    settings, banner = run_cli(tmp_path / "sandbox.env")
    base = settings["ZAPIER_BASE_URL"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
    assert not base.endswith(":8765")
    assert "8765" not in banner
    assert re.search(r"home page +http://127\.0\.0\.1:\d+/\?once=", banner)


def test_an_env_file_path_holding_another_users_link_is_replaced_not_followed(
    mallory: OtherUser,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="zapier-nb-shared-", dir="/tmp"))
    try:
        folder.chmod(0o777)  # a folder the other user may write to, not sticky
        victim = folder / "victim.txt"
        victim.write_text("keep me\n")
        victim.chmod(0o644)
        env_file = folder / "sandbox.env"
        planted = mallory.run_python(
            "import os, sys; os.symlink(sys.argv[1], sys.argv[2])", str(victim), str(env_file)
        )
        assert planted.returncode == 0, planted.stderr
        settings, _ = run_cli(env_file)
        assert victim.read_text() == "keep me\n"
        assert not env_file.is_symlink()
        assert env_file.stat().st_uid == os.getuid()
        assert env_file.stat().st_mode & 0o777 == 0o600
        assert "ZAPIER_API_KEY" in settings
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_a_localhost_sandbox_names_the_address_it_bound() -> None:
    with Sandbox("localhost") as sandbox:
        assert sandbox.base_url == f"http://127.0.0.1:{sandbox.port}"
        assert httpx2.get(sandbox.base_url + "/api/v2/auth/check/").status_code == 401
        key_file = sandbox.key_file
        assert key_file is not None
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert json.loads(key_file.read_text())["address"] == "127.0.0.1"
    assert not key_file.exists()
