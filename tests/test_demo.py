"""`scripts/demo.sh` as a person runs it: what it prints, where it opens (JupyterLab and
Notebook 7), what every kernel gets, and every way of stopping it (Ctrl+C at a terminal;
SIGINT or SIGTERM to its process or its group without a terminal; SIGINT in the
background of a non-interactive shell) shutting down the kernels, JupyterLab and the
sandbox, with nothing left listening and no file left that holds a key or a login."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pexpect
import pytest

REPO = Path(__file__).resolve().parent.parent


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
    child.expect(rb"in JupyterLab: +(http\S+)")
    lab_url = child.match.group(1).decode()
    assert "/lab/tree/01-quick-start-api-key.ipynb?token=" in lab_url, lab_url
    child.expect(rb"in Jupyter Notebook 7: +(http\S+)")
    notebook7_url = child.match.group(1).decode()
    assert "/tree/01-quick-start-api-key.ipynb?token=" in notebook7_url, notebook7_url
    address = urlsplit(lab_url)
    assert _wait_for_status(address.netloc, "/api/status?" + address.query) == 200
    # Notebook 7 is installed: its tree answers (and sends a notebook to /notebooks/...).
    assert _status(address.netloc, "/tree/01-quick-start-api-key.ipynb?" + address.query) in (
        200,
        302,
    )
    assert (
        _status(address.netloc, "/notebooks/01-quick-start-api-key.ipynb?" + address.query) == 200
    )
    assert key in _get(urlsplit(sandbox_url).netloc, "/")

    # One consent serves every tutorial: a token cache private to this run.
    tokens = state / "tokens"
    assert tokens.stat().st_mode & 0o777 == 0o700
    assert (state / "sandbox.log").stat().st_mode & 0o777 == 0o600

    running = Running.find(state, state.parent / "jupyter-runtime", address)
    started = time.monotonic()
    child.sendintr()  # Ctrl+C: the terminal signals the whole foreground process group
    child.expect(pexpect.EOF, timeout=90)
    child.close()
    assert time.monotonic() - started < 90
    running.assert_all_stopped()
    transcript = child.logfile_read.getvalue().decode(errors="replace")
    assert "Shutdown this Jupyter server" not in transcript


STOPS = {
    "SIGINT to its process group": ("group", signal.SIGINT),
    "SIGTERM to its process group": ("group", signal.SIGTERM),
    "SIGINT to its process": ("process", signal.SIGINT),
    "SIGTERM to its process": ("process", signal.SIGTERM),
}


@pytest.mark.parametrize("how", list(STOPS))
def test_the_demo_started_without_a_terminal_stops_clean_on_a_signal(
    how: str, tmp_path: Path
) -> None:
    target, signum = STOPS[how]
    process = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "demo.sh"), "--port=0"],
        env=_demo_env(tmp_path),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    output = Output(process)
    try:
        running = Running.start(tmp_path, output)
        if target == "group":
            os.killpg(process.pid, signum)
        else:
            os.kill(process.pid, signum)
        process.wait(timeout=90)
        running.assert_all_stopped()
    finally:
        _kill_group(process.pid)


@pytest.mark.parametrize("target", ["process", "group"])
def test_the_demo_in_the_background_of_a_script_stops_clean_on_sigint(
    target: str, tmp_path: Path
) -> None:
    """A non-interactive shell starts `&` jobs with SIGINT ignored; the demo takes it back."""
    script = f'bash {REPO / "scripts" / "demo.sh"} --port=0 &\necho "DEMO PID $!"\nwait\n'
    shell = subprocess.Popen(
        ["bash", "-c", script],
        env=_demo_env(tmp_path),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )
    output = Output(shell)
    try:
        demo_pid = int(output.wait_for(re.compile(r"DEMO PID (\d+)")).group(1))
        running = Running.start(tmp_path, output)
        if target == "group":
            os.killpg(shell.pid, signal.SIGINT)
        else:
            os.kill(demo_pid, signal.SIGINT)
        deadline = time.monotonic() + 90
        while _alive(demo_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        running.assert_all_stopped()
    finally:
        _kill_group(shell.pid)


def test_the_lab_extra_the_demo_installs_brings_notebook_7() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(dep.startswith("notebook") for dep in project["optional-dependencies"]["lab"])
    assert "setup.sh lab" in (REPO / "scripts" / "demo.sh").read_text()


def _demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "JUPYTER"))}
    env.update(
        HOME=str(tmp_path / "home"),
        ZAPIER_NB_DEMO_SETUP="0",  # .venv is set up already
        ZAPIER_NB_STATE_DIR=str(tmp_path / "state"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    return env


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


class Output:
    """Everything a process prints, read as it comes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert process.stdout is not None
        stream = process.stdout
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in iter(stream.readline, b""):
            with self._lock:
                self.text += line.decode(errors="replace")

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = pattern.search(self.text)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"not printed within {timeout} s: {pattern.pattern}\n{self.text}")


@dataclass
class Running:
    """What a running demo has started: processes, ports, and files to be gone at the stop."""

    state: Path
    runtime: Path
    pids: dict[str, int]
    ports: dict[str, int]

    @classmethod
    def start(cls, tmp_path: Path, output: Output) -> Running:
        """Wait for the demo to print its addresses, then start a kernel in it."""
        lab_url = output.wait_for(re.compile(r"in JupyterLab: +(http\S+)")).group(1)
        address = urlsplit(lab_url)
        assert _wait_for_status(address.netloc, "/api/status?" + address.query) == 200
        return cls.find(tmp_path / "state", tmp_path / "jupyter-runtime", address)

    @classmethod
    def find(cls, state: Path, runtime: Path, address: Any) -> Running:
        kernel = _post(address.netloc, "/api/kernels?" + address.query)
        connection = json.loads((runtime / f"kernel-{kernel['id']}.json").read_text())
        servers = [int(p.stem.split("-")[1]) for p in runtime.glob("jpserver-*.json")]
        assert len(servers) == 1
        kernel_pids = _children(servers[0])
        assert kernel_pids, "no kernel process under the server"
        pids = {"sandbox": int((state / "sandbox.pid").read_text()), "server": servers[0]}
        pids |= {f"kernel {pid}": pid for pid in kernel_pids}
        assert all(_alive(pid) for pid in pids.values()), pids
        sandbox_port = int(re.search(r":(\d+)", (state / "sandbox.env").read_text()).group(1))
        ports = {"server": address.port or 80, "sandbox": sandbox_port}
        ports |= {f"kernel {name}": connection[name] for name in ("shell_port", "iopub_port")}
        return cls(state, runtime, pids, ports)

    def assert_all_stopped(self) -> None:
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in self.pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [name for name, pid in self.pids.items() if _alive(pid)]
        assert not left, f"still running after the stop: {left}"
        listening = [name for name, port in self.ports.items() if _listening(port)]
        assert not listening, f"still listening after the stop: {listening}"
        files = sorted(
            p.name for p in self.runtime.glob("*") if p.name.startswith(("kernel-", "jpserver-"))
        )
        assert not files, f"runtime files left: {files}"
        kept = sorted(p.name for p in self.state.glob("*") if p.name != "ipython")
        assert not kept, f"files holding the sandbox's key or a login left: {kept}"


def _children(pid: int) -> list[int]:
    """The kernels under a server: its child processes running ipykernel (a server also
    starts short-lived helpers, which are gone by the time they could be checked)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    return [child for child in found if b"ipykernel" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _post(netloc: str, path: str) -> Any:
    connection = http.client.HTTPConnection(netloc, timeout=30)
    try:
        connection.request("POST", path, body=b"{}", headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 201, answer.status
        return json.loads(answer.read())
    finally:
        connection.close()


# Run under binder/start, which scripts/demo.sh runs: its kernels get the environment it sets.
TWO_KERNELS = """
import os
from kernel_driver import KernelDriver

setup = "import zapier_nb.tutorial\\nbackend = zapier_nb.tutorial.setup(needs='oauth')\\nbackend"
first, second = KernelDriver(dict(os.environ)), KernelDriver(dict(os.environ))
try:
    before = first.run("%zapier_check")
    print("BEFORE SETUP", before.data("text/plain"), before.stdout, before.stderr,
          [e["evalue"] for e in before.errors])
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
    # An OAuth lesson starts logged out: the sandbox's key is not exported as ZAPIER_API_KEY.
    before = out.split("BEFORE SETUP", 1)[1].split("FIRST SAYS", 1)[0]
    assert "API key" not in before, before
    assert "not logged in" in before.lower(), before
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
