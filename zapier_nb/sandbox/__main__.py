"""``python -m zapier_nb.sandbox``: serve the sandbox in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from types import FrameType

from ._server import Sandbox, listens_beyond_loopback

TRUSTS = """\
what it trusts:
  It listens on 127.0.0.1 unless --host says otherwise: every user of this machine can
  reach it, nobody else. It answers only to its own host names (no DNS rebinding).
  Its accounts, keys and tokens are fakes that die with it, but they are yours:
  - its home page shows the API key only to you: a browser that opens the one-time
    link printed at start, a page opened through your own Jupyter server, or (Linux) a
    program of your own Unix user;
  - the consent pages' user cookie is signed with a key of this run, so a cookie set by
    another local site cannot make you approve as someone else;
  - a Jupyter server of yours fronts it (ZAPIER_BASE_URL) only because it proves it is
    yours: it writes a random key to ~/.local/state/zapier_nb/sandboxes/ (mode 0600)
    and signs the proxy's challenges with it. Another user's program on its port, once
    it stopped, is refused;
  - it binds a free port unless --port names one, so nobody can wait on a known one;
  - pending consent pages and sign-up links expire after 15 minutes, and only the
    newest 200 are kept.
  Any local user can still open a consent page and approve as the first user: do not
  put anything real in it.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m zapier_nb.sandbox",
        description="Serve a local fake of Zapier's AI Actions authentication API.",
        epilog=TRUSTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--api-key", help="the API key of the sandbox user (default: random)")
    parser.add_argument("--client-id", help="the OAuth client id (default: zapier-nb-sandbox)")
    parser.add_argument(
        "--token-ttl", type=float, default=3600, help="access token lifetime in seconds"
    )
    parser.add_argument(
        "--env-file",
        help="also write ZAPIER_* settings to this file (mode 0600, replaced, never followed "
        "if it is a link)",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URI",
        help="register one more redirect URI for the client (repeatable); a port-less "
        "http://127.0.0.1/... URI accepts any port",
    )
    parser.add_argument(
        "--skip-consent-for-returning-users",
        action="store_true",
        help="send a user who approved the same request before straight back with a code",
    )
    return parser


def _settings(sandbox: Sandbox) -> dict[str, str]:
    return {
        "ZAPIER_BASE_URL": sandbox.base_url,
        "ZAPIER_API_KEY": sandbox.api_key,
        "ZAPIER_CLIENT_ID": sandbox.client_id,
        "ZAPIER_REDIRECT_URI": sandbox.redirect_uri,
        **sandbox.mcp.settings(),
    }


def _write_env_file(path: str, settings: dict[str, str]) -> None:
    """Write a new file beside `path` (0600), then move it over `path`: a link planted
    there is replaced, never followed."""
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".zapier-nb-env-", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as env_file:
            os.fchmod(env_file.fileno(), 0o600)
            env_file.writelines(f"{name}={value}\n" for name, value in settings.items())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _banner(sandbox: Sandbox, env_file: str | None) -> str:
    settings = _settings(sandbox)
    lines = [f"Zapier AI Actions sandbox running at {sandbox.base_url}", ""]
    if listens_beyond_loopback(sandbox.host):
        reachable = ", ".join(sorted(set(sandbox.public_hosts))) or sandbox.host
        lines += [
            f"WARNING: listening on {sandbox.host}, not only on this machine: anyone who can",
            f"reach {reachable} on port {sandbox.port} can sign in with the key below and mint",
            "tokens. Use --host 127.0.0.1 unless that is what you want.",
            "",
        ]
    lines += [
        f"  base URL      {sandbox.base_url}",
        f"  client id     {sandbox.client_id}",
        f"  redirect URI  {sandbox.redirect_uri}",
        *(f"  also allowed  {uri}" for uri in sandbox.redirect_uris[:-1]),
        f"  API key       {sandbox.api_key}",
        f"  home page     {sandbox.home_link()}",
        "                (a one-time link: it shows the demo credentials to the browser that",
        "                opens it; other users of this machine see the page without the key)",
        "",
        "Point zapier_nb at it from a shell before starting Jupyter:",
        *(f"  export {name}={value}" for name, value in settings.items()),
    ]
    if env_file:
        lines.append(f"(also written to {env_file})")
    lines += [
        "",
        "Then in a notebook: %load_ext zapier_nb and %zapier_check (API key),",
        f"or %zapier_login --client-id {sandbox.client_id} --redirect-uri {sandbox.redirect_uri}",
        "",
        "Press Ctrl+C to stop.",
    ]
    return "\n".join(lines)


def _sandbox(args: argparse.Namespace) -> Sandbox:
    return Sandbox(
        args.host,
        args.port,
        api_key=args.api_key,
        client_id=args.client_id,
        token_ttl=args.token_ttl,
        redirect_uris=args.redirect_uri,
        skip_consent_for_returning_users=args.skip_consent_for_returning_users,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        sandbox = _sandbox(args)
    except ValueError as exc:
        parser.error(str(exc))
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        if args.env_file:
            _write_env_file(args.env_file, _settings(sandbox))
        print(_banner(sandbox, args.env_file), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
