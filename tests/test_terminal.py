"""Outside a notebook, login prints the consent URL and reads the answer at a prompt."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from zapier_nb.sandbox import Sandbox

URL = re.compile(rb"(http://\S+/oauth/authorize/\S+)")
TIMEOUT = 30


def spawn(
    command: list[str], sandbox: Sandbox, *, oauth: bool, redirect_uri: str | None = None
) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(ZAPIER_BASE_URL=sandbox.base_url, TERM="dumb", PYTHONUNBUFFERED="1")
    env.update(MCP_URL=sandbox.mcp.url if sandbox.mcp.served else "")
    if oauth:
        env.update(
            ZAPIER_CLIENT_ID=sandbox.client_id,
            ZAPIER_REDIRECT_URI=redirect_uri or sandbox.redirect_uri,
        )
    child = pexpect.spawn(command[0], command[1:], env=env, timeout=TIMEOUT, dimensions=(50, 1000))
    child.logfile_read = io.BytesIO()
    return child


def approve_printed_url(child: pexpect.spawn, sandbox: Sandbox) -> str:
    child.expect(URL)
    return sandbox.approve(child.match.group(1).decode())


SCRIPT = "import zapier_nb; s = zapier_nb.Session.from_env(); s.login(); print('OK', s.auth_method)"


def test_a_script_prints_the_url_and_reads_the_pasted_address(sandbox: Sandbox) -> None:
    child = spawn([sys.executable, "-c", SCRIPT], sandbox, oauth=True)
    child.expect("Open this address, approve")
    redirected = approve_printed_url(child, sandbox)
    child.expect("Code or address: ")
    child.sendline(redirected.replace("state=", "state=x"))
    child.expect("different login attempt")
    child.expect("Code or address: ")
    child.sendline(redirected)
    child.expect("Logged in as ada@example.com.")
    child.expect("OK oauth")
    child.expect(pexpect.EOF)


def test_a_denial_pasted_at_the_prompt_is_followed_by_a_new_consent_url(
    sandbox: Sandbox,
) -> None:
    child = spawn([sys.executable, "-c", SCRIPT], sandbox, oauth=True)
    child.expect(URL)
    declined = child.match.group(1).decode()
    child.expect("Code or address: ")
    child.sendline(sandbox.approve(declined, deny=True))
    child.expect("Access was declined")
    child.expect(URL)
    fresh = child.match.group(1).decode()
    assert fresh != declined, "the declined attempt is never offered again"
    child.expect("Code or address: ")
    child.sendline(sandbox.approve(fresh))
    child.expect("Logged in as ada@example.com.")
    child.expect(pexpect.EOF)


def test_a_script_reads_the_api_key_without_echo(sandbox: Sandbox) -> None:
    child = spawn([sys.executable, "-c", SCRIPT], sandbox, oauth=False)
    child.expect(r"API key \(input hidden\): ")
    child.sendline(sandbox.api_key)
    child.expect("Logged in as ada@example.com.")
    child.expect(pexpect.EOF)
    assert sandbox.api_key.encode() not in (child.before or b"")


def test_the_ipython_terminal_logs_in_and_shows_text_tables(sandbox: Sandbox) -> None:
    ipython = Path(sys.executable).with_name("ipython")
    if not ipython.exists():
        pytest.skip("the ipython command is not installed beside this Python")
    child = spawn(
        [str(ipython), "--simple-prompt", "--no-banner", "--colors=NoColor", "--no-confirm-exit"],
        sandbox,
        oauth=True,
    )
    child.expect(r"In \[1\]: ")
    child.sendline("%load_ext zapier_nb")
    child.expect(r"In \[2\]: ")
    child.sendline("%zapier_check")
    child.expect("UsageError: Not logged in: run %zapier_login")
    child.expect(r"In \[3\]: ")
    child.sendline("%zapier_login")
    redirected = approve_printed_url(child, sandbox)
    child.expect("Code or address: ")
    child.sendline(redirected)
    child.expect("Logged in as ada@example.com.")
    child.expect(r"In \[4\]: ")
    child.sendline("%zapier_check")
    child.expect(r"Email\s+ada@example.com")
    child.expect(r"Authenticated by\s+OAuth 2.0 PKCE")
    child.expect(r"In \[5\]: ")
    child.sendline("%zapier_status")
    child.expect(r"Refresh token held\s+yes")
    child.expect(r"In \[6\]: ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    transcript = child.logfile_read.getvalue().decode(errors="replace")
    assert "ada@example.com" in transcript
    # The code the user pasted is echoed by their own terminal; nothing else may show.
    for secret in sandbox.issued_secrets():
        if not secret.startswith("sbx_code_"):
            assert secret not in transcript


LOOPBACK = "http://127.0.0.1/zapier-nb/callback"


def _follow(url: str) -> str:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def test_with_a_loopback_uri_approving_ends_the_prompt_by_itself(sandbox: Sandbox) -> None:
    sandbox.add_redirect_uri(LOOPBACK)
    child = spawn([sys.executable, "-c", SCRIPT], sandbox, oauth=True, redirect_uri=LOOPBACK)
    child.expect("In a browser on this machine the login then completes by itself")
    redirected = approve_printed_url(child, sandbox)
    assert redirected.startswith("http://127.0.0.1:")
    child.expect("Code or address: ")
    page = _follow(redirected)
    assert "Logged in to Zapier AI Actions as ada@example.com" in page
    child.expect("Logged in as ada@example.com.")
    child.expect("OK oauth")
    child.expect(pexpect.EOF)
    assert sandbox.count("token:authorization_code") == 1


def test_with_a_loopback_uri_pasting_still_works(sandbox: Sandbox) -> None:
    sandbox.add_redirect_uri(LOOPBACK)
    child = spawn([sys.executable, "-c", SCRIPT], sandbox, oauth=True, redirect_uri=LOOPBACK)
    redirected = approve_printed_url(child, sandbox)
    child.expect("Code or address: ")
    child.sendline(redirected)
    child.expect("Logged in as ada@example.com.")
    child.expect(pexpect.EOF)
    assert sandbox.count("token:authorization_code") == 1


MCP_SCRIPT = (
    "import os, zapier_nb; m = zapier_nb.MCPSession(url=os.environ['MCP_URL'], timeout=10); "
    "m.login(); print('TOOLS', len(m.list_tools()))"
)


def test_an_mcp_session_logs_in_by_oauth_at_the_prompt(sandbox: Sandbox) -> None:
    if not sandbox.mcp.served:
        pytest.skip("the sandbox serves MCP only with the mcp extra installed")
    child = spawn([sys.executable, "-c", MCP_SCRIPT], sandbox, oauth=False)
    child.expect("Open this address and approve")
    child.expect(re.compile(rb"(http://\S+/authorize\?\S+)"))
    redirected = sandbox.mcp.approve(child.match.group(1).decode())
    child.expect("Code or address: ")
    child.sendline(redirected)
    child.expect("TOOLS 3")
    child.expect(pexpect.EOF)


def test_an_mcp_denial_at_the_prompt_says_so_in_one_line_and_offers_a_new_address(
    sandbox: Sandbox,
) -> None:
    if not sandbox.mcp.served:
        pytest.skip("the sandbox serves MCP only with the mcp extra installed")
    child = spawn([sys.executable, "-c", MCP_SCRIPT], sandbox, oauth=False)
    child.logfile_read = seen = io.BytesIO()
    child.expect(re.compile(rb"(http://\S+/authorize\?\S+)"))
    first = child.match.group(1).decode()
    child.expect("Code or address: ")
    child.sendline(sandbox.mcp.approve(first, deny=True))
    child.expect("Access was declined")
    child.expect(re.compile(rb"(http://\S+/authorize\?\S+)"))
    second = child.match.group(1).decode()
    assert second != first
    child.expect("Code or address: ")
    child.sendline(sandbox.mcp.approve(second))
    child.expect("TOOLS 3")
    child.expect(pexpect.EOF)
    assert b"Traceback" not in seen.getvalue(), "the SDK's own traceback reached the terminal"
