"""`scripts/demo.sh` as a person runs it in a terminal: what it prints, where it opens, what
every kernel gets, and one Ctrl+C (SIGINT to the terminal's foreground process group)
stopping JupyterLab and the sandbox together."""

from __future__ import annotations

import http.client
import io
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pexpect
import pytest
from kernel_driver import KernelDriver

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
    assert _status(address.netloc, "/api/status?" + address.query) == 200
    assert key in _get(urlsplit(sandbox_url).netloc, "/")

    # One consent serves every tutorial: a token cache private to this run.
    tokens = state / "tokens"
    assert tokens.stat().st_mode & 0o777 == 0o700
    # Every kernel loads zapier_nb from the run's own IPython profile.
    config = state / "ipython" / "profile_default" / "ipython_kernel_config.py"
    assert 'extensions = ["zapier_nb"]' in config.read_text()

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


def test_the_demos_kernels_share_one_login_and_load_the_magics(
    zapier_sandbox_server: object, tmp_path: Path
) -> None:
    """Two kernels started with the demo's settings: one consent, and no %load_ext needed."""
    from zapier_nb.sandbox import Sandbox

    sandbox = zapier_sandbox_server
    assert isinstance(sandbox, Sandbox)
    sandbox.reset()
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["zapier_nb"]\n'
    )
    tokens = tmp_path / "tokens"
    tokens.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(
        IPYTHONDIR=str(tmp_path / "ipython"),
        ZAPIER_NB_TOKEN_CACHE="read_write",
        ZAPIER_NB_CACHE_DIR=str(tokens),
        ZAPIER_BASE_URL=sandbox.base_url,
        ZAPIER_CLIENT_ID=sandbox.client_id,
        ZAPIER_REDIRECT_URI=sandbox.redirect_uri,
    )
    setup = "import zapier_nb.tutorial\nbackend = zapier_nb.tutorial.setup(needs='oauth')\nbackend"
    first, second = KernelDriver(env), KernelDriver(env)
    try:
        shown = first.run(setup).data("text/plain")
        assert "A login here serves every notebook that uses this sandbox" in shown
        first.run(
            "from zapier_nb.sandbox import approve\n"
            "backend.session.complete_login(approve(backend.session.begin_login()))"
        )
        second.run(setup)
        status = second.run("%zapier_status").data("text/plain")
        assert "ada@example.com" in status
        assert "$ZAPIER_NB_CACHE_DIR/token-" in status
        assert str(tmp_path) not in status
        assert sandbox.count("consent") == 1
    finally:
        first.close()
        second.close()


def _get(netloc: str, path: str) -> str:
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def _status(netloc: str, path: str) -> int:
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()
