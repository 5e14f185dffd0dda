"""Several processes sharing one cached login never spend a rotated refresh token twice.

Worker processes load the login a first "kernel" cached, then refresh it against one
sandbox (rotation on, two-second tokens, and reuse of a rotated-out refresh token
revoking the whole login): for the first half of the run each forces refreshes in a
loop, for the second half each only calls check() (from one thread, from several
threads, or from asyncio tasks) and refreshes when the token is due.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import log_in

from zapier_nb import Session
from zapier_nb.sandbox import Sandbox

TTL = 2.0
SECONDS = 4.0

WORKER = r"""
import asyncio, json, logging, os, sys, threading, time

args = json.loads(sys.argv[1])
if args.get("uncoordinated"):
    # The control group: the same workers with the cross-process protocol switched off.
    import contextlib
    from zapier_nb import _keeper, _store
    _keeper.TokenKeeper.take_up_cached_token = lambda self: self.current()
    _store.TokenStore.locked = lambda self: contextlib.nullcontext()

from zapier_nb import Session

lock = threading.Lock()
tally = {"refreshes": 0, "adopted": 0, "calls": 0}
errors = []


class Tally(logging.Handler):
    def emit(self, record):
        message = record.getMessage()
        key = None
        if message == "refreshing the access token":
            key = "refreshes"
        elif message.startswith("using the access token another process refreshed"):
            key = "adopted"
        if key:
            with lock:
                tally[key] += 1


logger = logging.getLogger("zapier_nb")
logger.setLevel(logging.INFO)
logger.addHandler(Tally())
session = Session(
    client_id=args["client_id"],
    redirect_uri=args["redirect_uri"],
    base_url=args["base_url"],
    token_cache=args["cache"],
    timeout=10,
)
assert session.auth_method == "oauth", "the worker found no cached login"
print("ready", flush=True)
sys.stdin.readline()
started = time.monotonic()
deadline = started + args["seconds"]


def attempt(call):
    try:
        call()
        with lock:
            tally["calls"] += 1
    except Exception as exc:
        with lock:
            errors.append(f"{type(exc).__name__}: {exc}")


def checks(until):
    while time.monotonic() < until:
        attempt(session.check)


def forced_refreshes(until, pause=0.0):
    while time.monotonic() < until:
        attempt(session.refresh)
        attempt(session.check)
        time.sleep(pause)


async def async_checks(until, forced_until):
    async def task():
        while time.monotonic() < until:
            try:
                await session.acheck()
                with lock:
                    tally["calls"] += 1
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    async def refresher():
        while time.monotonic() < forced_until:
            await asyncio.to_thread(attempt, session.refresh)

    await asyncio.gather(refresher(), *(task() for _ in range(4)))
    await session.aclose()


def in_threads(until, forced_until):
    workers = [threading.Thread(target=checks, args=(until,)) for _ in range(3)]
    workers.append(threading.Thread(target=forced_refreshes, args=(forced_until,)))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


half = started + args["seconds"] / 2
mode = args["mode"]
if mode == "sync":
    forced_refreshes(half)
    checks(deadline)
elif mode == "threads":
    in_threads(deadline, half)
elif mode == "async":
    asyncio.run(async_checks(deadline, half))
print(json.dumps({"mode": mode, "pid": os.getpid(), "errors": errors, **tally}), flush=True)
"""


pytestmark = pytest.mark.usefixtures("secret_audit")


def run_workers(
    sandbox: Sandbox, cache: Path, modes: list[str], seconds: float, **extra: Any
) -> list[dict[str, Any]]:
    """Start one process per mode, release them together, and collect their reports."""
    common = {
        "client_id": sandbox.client_id,
        "redirect_uri": sandbox.redirect_uri,
        "base_url": sandbox.base_url,
        "cache": str(cache),
        "seconds": seconds,
        **extra,
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps({**common, "mode": mode})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in modes
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            ready = process.stdout.readline().strip()
            assert ready == "ready", process.communicate(timeout=30)[1]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
            assert_worker_output_is_clean(out + err, sandbox)
        return reports
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def assert_worker_output_is_clean(text: str, sandbox: Sandbox) -> None:
    for secret in sandbox.issued_secrets():
        assert secret not in text, f"a secret ({secret[:8]}...) leaked from a worker"


def logged_in_cache(sandbox: Sandbox, cache: Path) -> Session:
    first = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=cache,
    )
    log_in(first, sandbox)
    return first


def test_four_processes_refreshing_together_never_spend_a_refresh_token_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.token_ttl = TTL
    sandbox.reuse_revokes_grant = True  # one double spend would end the login everywhere
    cache = tmp_path / "cache"
    logged_in_cache(sandbox, cache)
    started = time.monotonic()
    reports = run_workers(sandbox, cache, ["sync", "sync", "threads", "async"], SECONDS)
    elapsed = time.monotonic() - started

    refreshes = sum(report["refreshes"] for report in reports)
    errors = [error for report in reports for error in report["errors"]]
    summary = {
        "processes": len(reports),
        "modes": [r["mode"] for r in reports],
        "refreshes_by_process": [r["refreshes"] for r in reports],
        "adopted_by_process": [r["adopted"] for r in reports],
        "calls_by_process": [r["calls"] for r in reports],
        "refreshes_at_server": sandbox.count("token:refresh_token"),
        "invalid_grant_at_server": sandbox.count("token_error:invalid_grant"),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
    }
    print("multi-process refresh:", json.dumps(summary))
    assert errors == []
    assert sandbox.count("token_error:invalid_grant") == 0
    assert refreshes == sandbox.count("token:refresh_token")
    assert all(report["refreshes"] >= 3 for report in reports)
    assert all(report["calls"] > 0 for report in reports)
    assert sum(report["adopted"] for report in reports) > 0

    restarted = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=cache,
    )
    restarted.refresh()  # the chain of rotated refresh tokens is intact
    assert restarted.check().success


def test_without_the_lock_the_same_workers_do_spend_tokens_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The control group: it shows the check above would catch a broken protocol."""
    sandbox.token_ttl = TTL
    sandbox.reuse_revokes_grant = True  # one double spend would end the login everywhere
    cache = tmp_path / "cache"
    logged_in_cache(sandbox, cache)
    reports = run_workers(sandbox, cache, ["sync", "sync", "sync"], 0.6, uncoordinated=True)
    errors = [error for report in reports for error in report["errors"]]
    assert sandbox.count("token_error:invalid_grant") > 0
    assert any(error.startswith("SessionExpiredError") for error in errors)
