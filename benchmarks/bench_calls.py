"""Part 2: what one authenticated `check()` costs beside a bare HTTP client.

The sandbox runs in a child process. Every contender keeps its connection alive and
makes the same `GET /api/v2/auth/check/`; a bare client also checks the status and
decodes the JSON, the least a caller does with the answer. Contenders take turns in
rounds (A B, then B A, ...): each round times a batch of calls per contender, and
the medians are over rounds.

OAuth is measured too: the bare clients use a token from a PKCE login done here by
hand. authlib's OAuth2 clients for httpx, when installed, take part as a peer: a
client that also checks its token's expiry before each request.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from report import Row, median
from sandbox_process import SandboxProcess

import zapier_nb

TARGET = 1.10
CHECK_PATH = "/api/v2/auth/check/"
AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
SCOPE = "openid nla:exposed_actions:execute"

SyncCall = Callable[[], object]
AsyncCall = Callable[[], Awaitable[object]]


@dataclass
class Settings:
    rounds: int
    batch: int
    warmup: int


@dataclass
class Group:
    """Contenders measured together; `pairs` maps each contender to its baseline."""

    name: str
    per_call: dict[str, list[float]]
    pairs: list[tuple[str, str, str]]  # (measurement, contender, baseline)
    notes: dict[str, str]


def _order(names: list[str], round_index: int) -> list[str]:
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def interleave(contenders: dict[str, SyncCall], settings: Settings) -> dict[str, list[float]]:
    names = list(contenders)
    for name in names:
        for _ in range(settings.warmup):
            contenders[name]()
    per_call: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.rounds):
        for name in _order(names, round_index):
            call = contenders[name]
            gc.collect()
            started = time.perf_counter()
            for _ in range(settings.batch):
                call()
            per_call[name].append((time.perf_counter() - started) / settings.batch)
    return per_call


async def ainterleave(
    contenders: dict[str, AsyncCall], settings: Settings
) -> dict[str, list[float]]:
    names = list(contenders)
    for name in names:
        for _ in range(settings.warmup):
            await contenders[name]()
    per_call: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.rounds):
        for name in _order(names, round_index):
            call = contenders[name]
            gc.collect()
            started = time.perf_counter()
            for _ in range(settings.batch):
                await call()
            per_call[name].append((time.perf_counter() - started) / settings.batch)
    return per_call


def bare_sync(client: Any, url: str) -> SyncCall:
    def call() -> object:
        response = client.get(url)
        response.raise_for_status()
        return response.json()

    return call


def bare_async(client: Any, url: str) -> AsyncCall:
    async def call() -> object:
        response = await client.get(url)
        response.raise_for_status()
        return response.json()

    return call


def pkce_access_token(sandbox: SandboxProcess) -> str:
    """An access token from a hand-made PKCE login, for the bare bearer clients."""
    verifier = secrets.token_urlsafe(64)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    query = urlencode(
        {
            "client_id": sandbox.client_id,
            "redirect_uri": sandbox.redirect_uri,
            "scope": SCOPE,
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(16),
        }
    )
    redirected = sandbox.approve(f"{sandbox.base_url}{AUTHORIZE_PATH}?{query}")
    code = parse_qs(urlsplit(redirected).query)["code"][0]
    with httpx2.Client(base_url=sandbox.base_url) as client:
        response = client.post(
            TOKEN_PATH,
            data={
                "client_id": sandbox.client_id,
                "grant_type": "authorization_code",
                "code_verifier": verifier,
                "redirect_uri": sandbox.redirect_uri,
                "code": code,
            },
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
    return token


def oauth_session(sandbox: SandboxProcess) -> zapier_nb.Session:
    session = zapier_nb.Session(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    )
    session.complete_login(sandbox.approve(session.begin_login()))
    return session


@dataclass
class Peer:
    """authlib's httpx OAuth2 clients, and the HTTP library they are built on."""

    sync_client: Any
    async_client: Any
    version: str
    library: Any  # httpx2, or httpx for an authlib that predates httpx2

    @property
    def on_httpx2(self) -> bool:
        return self.library is httpx2


def _authlib() -> Peer | str:
    """The peer, or why it cannot be measured."""
    try:
        import authlib
        from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuth2Client
    except ImportError as exc:
        return f"authlib peer skipped: {exc} (pip install authlib to include it)"
    if issubclass(OAuth2Client, httpx2.Client):
        library: Any = httpx2
    else:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - authlib needs it then
            return f"authlib peer skipped: {exc}"
        library = httpx
    return Peer(OAuth2Client, AsyncOAuth2Client, authlib.__version__, library)


def _authlib_kwargs(sandbox: SandboxProcess) -> dict[str, Any]:
    return {
        "client_id": sandbox.client_id,
        "redirect_uri": sandbox.redirect_uri,
        "scope": SCOPE,
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "none",
        "token_endpoint": f"{sandbox.base_url}{TOKEN_PATH}",
    }


def _authlib_login_url(client: Any, sandbox: SandboxProcess) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    url, _state = client.create_authorization_url(
        f"{sandbox.base_url}{AUTHORIZE_PATH}", code_verifier=verifier
    )
    return sandbox.approve(url), verifier


def measure_sync(sandbox: SandboxProcess, settings: Settings) -> list[Group]:
    url = f"{sandbox.base_url}{CHECK_PATH}"
    groups: list[Group] = []
    with (
        zapier_nb.Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session,
        httpx2.Client(headers={"x-api-key": sandbox.api_key}) as bare,
    ):
        per_call = interleave(
            {"session.check()": session.check, "bare": bare_sync(bare, url)}, settings
        )
    groups.append(
        Group(
            "api key, sync",
            per_call,
            [("per call, API key, sync", "session.check()", "bare")],
            {"bare": "httpx2.Client + x-api-key"},
        )
    )

    token = pkce_access_token(sandbox)
    contenders: dict[str, SyncCall] = {}
    notes = {"bare": "httpx2.Client + Bearer"}
    pairs = [("per call, OAuth, sync", "session.check()", "bare")]
    closers: list[Callable[[], object]] = []
    session = oauth_session(sandbox)
    bare = httpx2.Client(headers={"Authorization": f"Bearer {token}"})
    closers += [session.close, bare.close]
    contenders["session.check()"] = session.check
    contenders["bare"] = bare_sync(bare, url)
    peer = _authlib()
    if isinstance(peer, str):
        notes["authlib"] = peer
    else:
        authlib_client = peer.sync_client(**_authlib_kwargs(sandbox))
        redirected, verifier = _authlib_login_url(authlib_client, sandbox)
        authlib_client.fetch_token(
            f"{sandbox.base_url}{TOKEN_PATH}",
            authorization_response=redirected,
            code_verifier=verifier,
        )
        closers.append(authlib_client.close)
        name = f"authlib {peer.version} OAuth2Client (peer)"
        contenders[name] = bare_sync(authlib_client, url)
        baseline = "bare"
        if not peer.on_httpx2:  # compare it with its own HTTP library
            bare_httpx = peer.library.Client(headers={"Authorization": f"Bearer {token}"})
            closers.append(bare_httpx.close)
            baseline = "bare httpx"
            contenders[baseline] = bare_sync(bare_httpx, url)
            notes[baseline] = f"httpx {peer.library.__version__}.Client + Bearer"
        pairs.append(("per call, OAuth, sync", name, baseline))
    try:
        per_call = interleave(contenders, settings)
    finally:
        for close in closers:
            close()
    groups.append(Group("oauth, sync", per_call, pairs, notes))
    return groups


async def _measure_async(sandbox: SandboxProcess, settings: Settings) -> list[Group]:
    url = f"{sandbox.base_url}{CHECK_PATH}"
    groups: list[Group] = []
    async with (
        zapier_nb.Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session,
        httpx2.AsyncClient(headers={"x-api-key": sandbox.api_key}) as bare,
    ):
        per_call = await ainterleave(
            {"await session.acheck()": session.acheck, "bare": bare_async(bare, url)}, settings
        )
    groups.append(
        Group(
            "api key, async",
            per_call,
            [("per call, API key, async", "await session.acheck()", "bare")],
            {"bare": "httpx2.AsyncClient + x-api-key"},
        )
    )

    token = await asyncio.to_thread(pkce_access_token, sandbox)
    oauth = await asyncio.to_thread(oauth_session, sandbox)
    notes = {"bare": "httpx2.AsyncClient + Bearer"}
    pairs = [("per call, OAuth, async", "await session.acheck()", "bare")]
    bare = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    closers: list[Callable[[], Awaitable[object]]] = [oauth.aclose, bare.aclose]
    contenders: dict[str, AsyncCall] = {
        "await session.acheck()": oauth.acheck,
        "bare": bare_async(bare, url),
    }
    peer = _authlib()
    if isinstance(peer, str):
        notes["authlib"] = peer
    else:
        authlib_client = peer.async_client(**_authlib_kwargs(sandbox))
        redirected, verifier = await asyncio.to_thread(_authlib_login_url, authlib_client, sandbox)
        await authlib_client.fetch_token(
            f"{sandbox.base_url}{TOKEN_PATH}",
            authorization_response=redirected,
            code_verifier=verifier,
        )
        closers.append(authlib_client.aclose)
        name = f"authlib {peer.version} AsyncOAuth2Client (peer)"
        contenders[name] = bare_async(authlib_client, url)
        baseline = "bare"
        if not peer.on_httpx2:  # compare it with its own HTTP library
            bare_httpx = peer.library.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            closers.append(bare_httpx.aclose)
            baseline = "bare httpx"
            contenders[baseline] = bare_async(bare_httpx, url)
            notes[baseline] = f"httpx {peer.library.__version__}.AsyncClient + Bearer"
        pairs.append(("per call, OAuth, async", name, baseline))
    try:
        per_call = await ainterleave(contenders, settings)
    finally:
        for close in closers:
            await close()
    groups.append(Group("oauth, async", per_call, pairs, notes))
    return groups


def measure(settings: Settings, log: Callable[[str], None]) -> list[Group]:
    with SandboxProcess() as sandbox:
        log("  per-call: sync")
        groups = measure_sync(sandbox, settings)
        log("  per-call: async")
        groups += asyncio.run(_measure_async(sandbox, settings))
    return groups


def rows(groups: list[Group], settings: Settings) -> list[Row]:
    out: list[Row] = []
    for group in groups:
        for measurement, contender, baseline in group.pairs:
            values, base = group.per_call[contender], group.per_call[baseline]
            ratio = median(values) / median(base)
            paired = median([a / b for a, b in zip(values, base, strict=True)])
            peer = "(peer)" in contender
            out.append(
                Row(
                    section="calls",
                    measurement=measurement,
                    contender=contender,
                    median_s=median(values),
                    baseline=group.notes.get(baseline, baseline),
                    baseline_median_s=median(base),
                    target="-" if peer else f"<= {TARGET:.2f}x",
                    met=None if peer else ratio <= TARGET,
                    detail={
                        "rounds": settings.rounds,
                        "calls_per_round": settings.batch,
                        "median_of_paired_round_ratios": paired,
                        "per_call_seconds": values,
                        "baseline_per_call_seconds": base,
                    },
                )
            )
    return out


def skipped_notes(groups: list[Group]) -> list[str]:
    return sorted(
        {note for group in groups for key, note in group.notes.items() if key == "authlib"}
    )
