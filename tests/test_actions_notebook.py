"""%zapier_actions, %zapier_run, the ActionRunner widget and run_many in a real kernel."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver, Reply

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start(*, oauth: bool = False) -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env["ZAPIER_BASE_URL"] = sandbox.base_url
        if oauth:
            env.update(ZAPIER_CLIENT_ID=sandbox.client_id, ZAPIER_REDIRECT_URI=sandbox.redirect_uri)
        else:
            env["ZAPIER_API_KEY"] = sandbox.api_key
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("%load_ext zapier_nb")
        return driver

    yield start
    for driver in started:
        driver.close()


def test_actions_table(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run("%zapier_actions")
    html, text = reply.data("text/html"), reply.data("text/plain")
    for column in ("id", "app", "action", "type", "description", "required inputs"):
        assert f">{column}</th>" in html
    assert "Gmail: Send Email" in html
    assert "spreadsheet, lookup_column, lookup_value" in html
    assert f"{sandbox.base_url}/sandbox/actions/" in html
    assert "3 actions." in text
    only = k.run("%zapier_actions gmail").data("text/plain")
    assert "Gmail: Send Email" in only
    assert "Google Sheets" not in only
    assert_no_secrets([k.transcript()], sandbox)


def test_run_keeps_the_result_and_shows_a_table(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        "r = %zapier_run 'lookup row' \"Look up the orders of ada@example.com\"\n"
        "print(r.status, [x['order_id'] for x in r.results])\nr"
    )
    assert reply.stdout.strip() == "success ['SO-1001', 'SO-1003']"
    html = reply.data("text/html")
    assert ">Order</th>" in html  # a column titled by result_field_labels
    assert "Analytical Engine manual" in html
    assert sandbox.execution_count() == 1


def test_preview_and_params_from_the_line(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        '%zapier_run "send email" "Write to the team" --preview '
        "--param to=grace@example.org --param subject=Hello"
    )
    text = reply.data("text/plain")
    assert "preview (nothing was run)" in text
    assert '"to": "grace@example.org"' in text
    assert sandbox.sent_emails() == []
    assert sandbox.execution_count() == 0


def test_cell_magic_takes_the_instructions_from_the_cell(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        "%%zapier_run GoogleMailV2CLIAPI/message\n"
        'Email ada@example.com with the subject "Quarterly numbers"\n'
        "and say the report is attached.\n"
    )
    assert "Gmail: Send Email: ran" in reply.data("text/plain")
    [sent] = sandbox.sent_emails()
    assert sent.subject == "Quarterly numbers"
    assert "report is attached" in sent.body


def test_mistakes_are_one_line_usage_errors(kernel: Kernel, sandbox: Sandbox) -> None:
    sandbox.add_action("Slack: Send Channel Message", app="SlackAPI", action="channel")
    sandbox.add_action("Slack: Send Direct Message", app="SlackAPI", action="direct")
    k = kernel()
    cases = {
        '%zapier_run "slack send" "hello"': "matches 2 actions",
        '%zapier_run "fax" "hello"': "No AI Action matches",
        '%zapier_run "lookup row"': "Say what to do",
        '%zapier_run "lookup row" "x" --param nope': "--param takes KEY=VALUE",
        '%zapier_run "lookup row" "x" --param colour=blue': "unknown input 'colour'",
    }
    for line, message in cases.items():
        reply = k.run(line)
        assert "UsageError" in reply.stderr, line
        assert message in reply.stderr, line
        assert "Traceback" not in reply.stderr, line
        assert reply.errors == [], line
    assert sandbox.execution_count() == 0
    assert "Slack: Send Direct Message" in k.run('%zapier_run "slack send" "hi"').stderr


def _state(k: KernelDriver, css_class: str, name: str = "value") -> object:
    return k.widgets[k.find(css_class)].get(name)


def _click(k: KernelDriver, css_class: str) -> Reply:
    return k.send_custom(k.find(css_class), {"event": "click"})


def test_runner_widget_blocks_double_clicks_and_saves_no_secret(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel(oauth=True)
    reply = k.run(
        "import zapier_nb\nfrom zapier_nb.sandbox import approve\n"
        "s = zapier_nb.get_session()\ns.complete_login(approve(s.begin_login()))\n"
        "from zapier_nb.widgets import ActionRunner\n"
        "runner = ActionRunner(action='send email')\nrunner"
    )
    assert reply.errors == []
    options = json.dumps(_state(k, "zapier-nb-runner-action", "_options_labels"))
    assert "Gmail: Send Email" in options
    k.send_update(k.find("zapier-nb-runner-instructions"), {"value": "Email grace@example.org"})
    sandbox.latency = 0.6
    sandbox.expire_access_tokens()  # the runner must go through the session's refresh
    _click(k, "zapier-nb-runner-run")
    _click(k, "zapier-nb-runner-run")  # a double click, while the first run is in flight
    _click(k, "zapier-nb-runner-preview")
    assert _state(k, "zapier-nb-runner-run", "disabled") is True
    waited = k.run("print(runner.wait(10).status, runner.refused_clicks)")
    assert waited.stdout.strip() == "success 2"
    assert len(sandbox.sent_emails()) == 1
    assert sandbox.execution_count() == 1
    assert sandbox.count("token:refresh_token") == 1
    assert "grace@example.org" in str(_state(k, "zapier-nb-runner-result"))
    assert _state(k, "zapier-nb-runner-run", "disabled") is False
    # preview afterwards: allowed again, runs nothing
    _click(k, "zapier-nb-runner-preview")
    k.run("runner.wait(10)")
    assert "preview (nothing was run)" in str(_state(k, "zapier-nb-runner-result"))
    assert sandbox.execution_count() == 1
    every_state = json.dumps(k.widgets)
    assert_no_secrets([every_state, k.transcript()], sandbox)


def test_runner_widget_shows_errors_in_its_status(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("from zapier_nb.widgets import ActionRunner\nrunner = ActionRunner()\nrunner")
    _click(k, "zapier-nb-runner-run")
    assert "Write the instructions first" in str(_state(k, "zapier-nb-runner-status"))
    k.send_update(k.find("zapier-nb-runner-instructions"), {"value": "x"})
    sandbox.fail_next("execute", status=422, body='{"error": "The sandbox says no."}')
    _click(k, "zapier-nb-runner-run")
    k.run("runner.wait(10)")
    assert "The sandbox says no" in str(_state(k, "zapier-nb-runner-status"))


def test_run_many_in_the_kernel_shows_a_progress_bar(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        "import zapier_nb\n"
        "r = zapier_nb.get_session().run_many('lookup row', "
        "['Find ada@example.com'] * 6, concurrency=3)\nprint(r.summary())"
    )
    assert "6 inputs" in reply.stdout
    bar = k.widgets[k.find("zapier-nb-progress-bar")]
    assert (bar["value"], bar["max"], bar["bar_style"]) == (6, 6, "success")


@pytest.mark.parametrize("call", ["run_many", "await arun_many"])
def test_the_stop_button_stops_run_many_and_keeps_what_finished(
    kernel: Kernel, sandbox: Sandbox, call: str
) -> None:
    k = kernel()
    sandbox.latency = 0.3
    prefix, name = ("await ", "arun_many") if call.startswith("await") else ("", call)
    msg_id = k.client.execute(
        "import zapier_nb\n"
        f"r = {prefix}zapier_nb.get_session().{name}('lookup row', "
        "['Find ada@example.com'] * 40, concurrency=2)\n"
        "import json\nprint(r.summary())\nprint(json.dumps(dict(r.counts)))"
    )
    deadline = time.monotonic() + 60
    while sandbox.execution_count() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    k.manager.interrupt_kernel()
    reply = k._collect(msg_id, None, 60)
    assert reply.errors == []
    assert "Interrupted:" in reply.stdout
    counts = json.loads(reply.stdout.strip().splitlines()[-1])
    assert counts["not_run"] > 0
    assert counts["success"] + counts["not_run"] == 40
    assert sandbox.execution_count() == counts["success"]
    assert sandbox.count("execute") == counts["success"]
    bar = k.widgets[k.find("zapier-nb-progress-bar")]
    assert bar["bar_style"] == "warning"
    # the kernel is fine afterwards
    assert k.run("print(1 + 1)").stdout.strip() == "2"
