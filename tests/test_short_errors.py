"""A ZapierError raised in a cell is one line, what it says and what to do; a real kernel."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kernel_driver import KernelDriver, Reply

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start() -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env.update(
            ZAPIER_BASE_URL=sandbox.base_url,
            ZAPIER_CLIENT_ID=sandbox.client_id,
            ZAPIER_REDIRECT_URI=sandbox.redirect_uri,
        )
        driver = KernelDriver(env)
        started.append(driver)
        return driver

    yield start
    for driver in started:
        driver.close()


def the_error(reply: Reply) -> dict[str, Any]:
    assert len(reply.errors) == 1, reply.errors
    return reply.errors[0]


def plain(lines: list[str]) -> list[str]:
    return [_ANSI.sub("", line) for line in lines]


def test_a_zapier_error_is_one_line_and_other_errors_keep_their_traceback(
    kernel: Kernel,
) -> None:
    k = kernel()
    k.run("%load_ext zapier_nb\nimport zapier_nb\ns = zapier_nb.Session.from_env()")
    error = the_error(k.run("s.client.get('/api/v2/auth/check/')"))
    assert error["ename"] == "LoginRequiredError"
    assert plain(error["traceback"]) == [f"LoginRequiredError: {error['evalue']}"]
    assert "Log in first" in error["evalue"]
    other = the_error(k.run("1 / 0"))
    assert other["ename"] == "ZeroDivisionError"
    assert len(other["traceback"]) > 1


def test_short_errors_can_be_turned_off_and_tb_shows_the_whole_story(kernel: Kernel) -> None:
    k = kernel()
    k.run("%load_ext zapier_nb\nimport zapier_nb\ns = zapier_nb.Session.from_env()")
    short = the_error(k.run("s.client.get('/api/v2/auth/check/')"))
    assert len(short["traceback"]) == 1
    full = "\n".join(plain(the_error(k.run("%tb"))["traceback"]))
    assert "httpx2" in full, "%tb shows the last error's whole traceback"
    k.run("%config ZapierMagics.short_errors = False")
    long = the_error(k.run("s.client.get('/api/v2/auth/check/')"))
    assert long["ename"] == "LoginRequiredError"
    assert len(long["traceback"]) > 3
    assert "httpx2" in "\n".join(plain(long["traceback"]))
    k.run("%config ZapierMagics.short_errors = True")
    assert len(the_error(k.run("s.refresh()"))["traceback"]) == 1


def test_async_calls_and_the_tutorial_setup_get_it_too(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    setup = k.run("import zapier_nb.tutorial\nbackend = zapier_nb.tutorial.setup(needs='oauth')")
    assert setup.errors == []
    error = the_error(k.run("await backend.session.acheck()"))
    assert plain(error["traceback"]) == [f"LoginRequiredError: {error['evalue']}"]
    status = k.run("%zapier_status")
    assert "not logged in" in status.data("text/plain"), "setup() loads the magics too"
    again = k.run("backend = zapier_nb.tutorial.setup(needs='oauth')")
    assert again.stdout == ""
    assert "already loaded" not in again.stdout + again.stderr
    assert sandbox.count("check") == 0


def test_a_handler_someone_else_installed_is_left_alone(kernel: Kernel) -> None:
    k = kernel()
    k.run(
        "def mine(shell, etype, value, tb, tb_offset=None):\n"
        "    print('my handler:', value)\n"
        "get_ipython().set_custom_exc((KeyError,), mine)"
    )
    k.run("%load_ext zapier_nb")
    assert "my handler: 'x'" in k.run("{}['x']").stdout
