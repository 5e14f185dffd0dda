"""`scripts/demo.sh` as a person runs it in a terminal: what it prints, where it opens, what
every kernel gets, and one Ctrl+C (SIGINT to the terminal's foreground process group)
stopping JupyterLab and the sandbox together."""

from __future__ import annotations

import http.client
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pexpect
import pytest

REPO = Path(__file__).resolve().parent.parent
LAB_URL = re.compile(rb"(http://127\.0\.0\.1:\d+/\S*\?token=[0-9a-f]+)")


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def _default_sigint() -> None:
    # A terminal's Ctrl+C reaches programs whose SIGINT is not ignored; a test runner
    # started in the background may have left it ignored for its children.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[pexpect.spawn, Path]]:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "JUPYTER"))}
    env.update(
        HOME=str(tmp_path / "home"),
        ZAPIER_NB_DEMO_SETUP="0",  # .venv is set up already
        ZAPIER_NB_STATE_DIR=str(state),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        TERM="dumb",
    )
    child = pexpect.spawn(
        "bash",
        [str(REPO / "scripts" / "demo.sh"), "--port=0"],
        env=env,
        cwd=str(tmp_path),
        timeout=90,
        dimensions=(50, 400),
        preexec_fn=_default_sigint,
    )
    child.logfile_read = io.BytesIO()
    yield child, state
    if child.isalive():
        os.killpg(child.pid, signal.SIGKILL)
        child.close(force=True)


def test_the_demo_prints_what_a_newcomer_needs_opens_on_tutorial_01_and_stops_on_ctrl_c(
    demo: tuple[pexpect.spawn, Path],
) -> None:
    child, state = demo
    child.expect(rb"its API key:  (sbx_key_\S+) \(its home page, (http://127\.0\.0\.1:\d+)/")
    key, sandbox_url = child.match.group(1).decode(), child.match.group(2).decode()
    child.expect(rb"its log:      (\S+)")
    assert Path(child.match.group(1).decode()) == state / "sandbox.log"
    child.expect(LAB_URL)
    lab_url = child.match.group(1).decode()
    assert "/lab/tree/01-quick-start-api-key.ipynb?token=" in lab_url, lab_url
    address = urlsplit(lab_url)
    assert _wait_for_status(address.netloc, "/api/status?" + address.query) == 200
    assert key in _get(urlsplit(sandbox_url).netloc, "/")

    # One consent serves every tutorial: a token cache private to this run.
    tokens = state / "tokens"
    assert tokens.stat().st_mode & 0o777 == 0o700

    sandbox_pid = int((state / "sandbox.pid").read_text())
    lab_pids = [
        int(p.stem.split("-")[1]) for p in state.parent.glob("jupyter-runtime/jpserver-*.json")
    ]
    assert len(lab_pids) == 1
    assert _alive(sandbox_pid)
    assert _alive(lab_pids[0])

    started = time.monotonic()
    child.sendintr()  # Ctrl+C: the terminal signals the whole foreground process group
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    assert time.monotonic() - started < 60
    assert not _alive(sandbox_pid), "Ctrl+C left the sandbox running"
    assert not _alive(lab_pids[0]), "Ctrl+C left JupyterLab running"
    assert not tokens.exists(), "the demo's token cache outlived it"
    transcript = child.logfile_read.getvalue().decode(errors="replace")
    assert "Shutdown this Jupyter server" not in transcript


# Run under binder/start, which scripts/demo.sh runs: its kernels get the environment it sets.
TWO_KERNELS = """
import os
from kernel_driver import KernelDriver

setup = "import zapier_nb.tutorial\\nbackend = zapier_nb.tutorial.setup(needs='oauth')\\nbackend"
first, second = KernelDriver(dict(os.environ)), KernelDriver(dict(os.environ))
try:
    print("FIRST SAYS", first.run(setup).data("text/plain"))
    first.run(
        "from zapier_nb.sandbox import approve\\n"
        "backend.session.complete_login(approve(backend.session.begin_login()))"
    )
    second.run(setup)
    print("SECOND STATUS", second.run("%zapier_status").data("text/plain"))
    restarted = KernelDriver(dict(os.environ))
    print("AFTER A RESTART", restarted.run("%zapier_check").data("text/plain"))
    restarted.close()
finally:
    first.close()
    second.close()
"""


def test_the_demos_kernels_share_one_login_and_have_the_magics(tmp_path: Path) -> None:
    """One consent in one kernel serves the next; a fresh kernel has the magics at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "IPYTHON"))}
    env.update(
        HOME=str(tmp_path / "home"),
        ZAPIER_NB_STATE_DIR=str(tmp_path / "state"),
        PYTHONPATH=str(REPO / "tests"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    result = subprocess.run(
        ["bash", str(REPO / "binder" / "start"), sys.executable, "-c", TWO_KERNELS],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "A login here serves every notebook that uses this sandbox" in out
    status = out.split("SECOND STATUS", 1)[1].split("AFTER A RESTART", 1)[0]
    assert "ada@example.com" in status, "the second kernel should be logged in already"
    assert "$ZAPIER_NB_CACHE_DIR/token-" in status
    assert str(tmp_path) not in status
    assert "ada@example.com" in out.split("AFTER A RESTART", 1)[1]
    assert not (tmp_path / "state" / "tokens").exists()


def _get(netloc: str, path: str) -> str:
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def _wait_for_status(netloc: str, path: str) -> int:
    """The server's answer, once it answers (it may print its address a moment before)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return _status(netloc, path)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _status(netloc: str, path: str) -> int:
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()
