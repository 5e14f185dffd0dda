"""What the AI Actions widgets keep and say, in a real kernel: the ActionRunner's synced
HTML after a server echoed the key, and how run_many's progress bar ends."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver

from zapier_nb.sandbox import Sandbox

Kernel = Callable[[], KernelDriver]


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start() -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env.update(ZAPIER_BASE_URL=sandbox.base_url, ZAPIER_API_KEY=sandbox.api_key)
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("import zapier_nb\ns = zapier_nb.get_session()")
        return driver

    yield start
    for driver in started:
        driver.close()


def test_the_runner_keeps_no_echoed_key_in_its_synced_html(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    reply = k.run(
        "from zapier_nb.widgets import ActionRunner\n"
        "runner = ActionRunner(action='lookup row')\nrunner"
    )
    assert reply.errors == []
    echo = {
        "execution_log_id": "01J06T8Q6TM4EVE9F3NYW1Z292",
        "action_used": "Google Sheets: Lookup Spreadsheet Row",
        "status": "success",
        "results": [{"sent_with": sandbox.api_key, "name": "Ada Lovelace"}],
        "resolved_params": {"x-api-key": sandbox.api_key, "echo": f"key={sandbox.api_key}"},
    }
    sandbox.fail_next("execute", status=200, body=json.dumps(echo))
    k.send_update(k.find("zapier-nb-runner-instructions"), {"value": "Find ada@example.com"})
    k.send_custom(k.find("zapier-nb-runner-run"), {"event": "click"})
    k.run("runner.wait(10)")
    shown = str(k.value("zapier-nb-runner-result"))
    assert "Ada Lovelace" in shown
    assert "***" in shown
    assert_no_secrets([json.dumps(k.widgets), k.transcript()], sandbox)


def test_the_progress_bar_ends_saying_what_happened(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    inputs = ["Email ada@example.com 'Hi'", "Say hi to nobody", "Email grace@example.org 'Hi'"]
    reply = k.run(f"r = s.run_many('send email', {inputs!r}, concurrency=1)")
    assert reply.errors == []
    bar, label = k.state("zapier-nb-progress-bar"), k.value("zapier-nb-progress-label")
    assert (bar["description"], label) == ("Done", "Done: 2 ran, 1 failed")
    assert bar["bar_style"] == "warning"

    sandbox.fail_next("execute", status=401, times=-1)  # the key stops working: the run stops
    reply = k.run(f"r = s.run_many('send email', {inputs * 2!r}, concurrency=1)")
    assert reply.errors == []
    bar, label = k.state("zapier-nb-progress-bar"), k.value("zapier-nb-progress-label")
    assert (bar["description"], label) == ("Stopped", "Stopped: 5 did not run")
    assert "Running" not in json.dumps(k.widgets)
