"""Runs a command (Binder's or the demo's Jupyter server) beside a local AI Actions sandbox.

`binder/start` runs this. It starts the sandbox, gives the command the sandbox's
settings as `ZAPIER_*` variables, and stops both together, cleanly, whichever way it is
asked to stop: Ctrl+C at a terminal, SIGINT or SIGTERM sent to this process or to its
process group, with or without a terminal, and also when started in the background of a
non-interactive shell, where SIGINT arrives ignored (a shell script could not take it
back; Python can). The server is sent SIGTERM, which makes a Jupyter server shut its
kernels down and remove its runtime files; then the sandbox stops, and its log, its
settings file, its pid file and the shared token cache are removed.

Both children run in sessions of their own, so a signal to this process group reaches
this process alone and the order of the stop is always the same.

The sandbox's API key is printed, not exported as `ZAPIER_API_KEY`: a tutorial starts
from what it teaches, and an OAuth lesson must not find itself logged in by key. The
kernels get it as `ZAPIER_NB_SANDBOX_API_KEY`, which only the API key lessons read
(`zapier_nb.tutorial.setup(needs="api_key")`).

The browser reaches the sandbox's consent page through the Jupyter server (the zapier_nb
server extension fronts a loopback sandbox), and the code comes back by itself, so a
person approves as with real Zapier. `ZAPIER_NB_AUTOPILOT=1` (the sandbox approves by
itself) is for unattended runs such as CI only, and is not set here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SERVER_GRACE = 60.0  # seconds for the server to shut its kernels down
SANDBOX_GRACE = 10.0
SANDBOX_SETTINGS = ("ZAPIER_BASE_URL", "ZAPIER_CLIENT_ID", "ZAPIER_REDIRECT_URI")


# The stop signals received; the handler only notes them, so that no process is left
# half started, and the loops that wait look at it.
stop_signals: list[int] = []


def _note_stop(signum: int, frame: FrameType | None) -> None:
    stop_signals.append(signum)


def _wait(process: subprocess.Popen[bytes]) -> int | None:
    """The process's exit status, or None when a stop signal came first."""
    while not stop_signals:
        status = process.poll()
        if status is not None:
            return status
        time.sleep(0.1)
    return None


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _read_env_file(path: Path) -> dict[str, str]:
    settings = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name:
            settings[name] = value
    return settings


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.env_file = state_dir / "sandbox.env"
        self.log_file = state_dir / "sandbox.log"
        self.pid_file = state_dir / "sandbox.pid"
        self.token_dir = state_dir / "tokens"
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None

    def prepare(self) -> dict[str, str]:
        """A private state folder, free of any earlier run's files, and the kernels' settings."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        self.remove_files()
        # One consent serves every notebook: kernels share the login in a token cache that
        # lives as long as this sandbox (whose tokens die with it).
        self.token_dir.mkdir(mode=0o700)
        # Every kernel loads zapier_nb, so the magics are there after a kernel restart too;
        # the IPython profile is this run's own, not the user's.
        profile = self.state_dir / "ipython" / "profile_default"
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "ipython_kernel_config.py").write_text(
            'c.InteractiveShellApp.extensions = ["zapier_nb"]\n'
        )
        return {
            "ZAPIER_NB_TOKEN_CACHE": "read_write",
            "ZAPIER_NB_CACHE_DIR": str(self.token_dir),
            "IPYTHONDIR": str(self.state_dir / "ipython"),
        }

    def start_sandbox(self) -> dict[str, str]:
        """The sandbox's settings, once it answers."""
        port = os.environ.get("ZAPIER_NB_SANDBOX_PORT", "0")
        log = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            command = [sys.executable, "-m", "zapier_nb.sandbox", "--port", port]
            self.sandbox = subprocess.Popen(  # noqa: S603 (this Python, fixed arguments)
                [*command, "--env-file", str(self.env_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(log)
        self.pid_file.write_text(f"{self.sandbox.pid}\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.sandbox.poll() is None and not stop_signals:
            if self.env_file.exists():
                settings = _read_env_file(self.env_file)
                if "ZAPIER_REDIRECT_URI" in settings:
                    return settings
            time.sleep(0.05)
        if stop_signals:
            return {}
        log_text = self.log_file.read_text(errors="replace")
        raise SystemExit(f"The sandbox did not start. Its log:\n{log_text}")

    def run_server(self, command: list[str], env: dict[str, str]) -> int | None:
        """The command's exit status, or None when a stop signal came first."""
        # The command is what the person running binder/start asked for.
        self.server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
        notebook = env.get("ZAPIER_NB_DEMO_NOTEBOOK")
        if notebook:
            self.print_addresses(self.server, notebook)
        return _wait(self.server)

    def print_addresses(self, server: subprocess.Popen[bytes], notebook: str) -> None:
        """Where to open the notebook, in JupyterLab and in Notebook 7, once the server says."""
        from jupyter_core.paths import jupyter_runtime_dir

        info_file = Path(jupyter_runtime_dir()) / f"jpserver-{server.pid}.json"
        while server.poll() is None and not stop_signals:
            try:
                info = json.loads(info_file.read_text())
                break
            except (FileNotFoundError, ValueError):
                time.sleep(0.1)
        else:
            return
        base = info["url"].rstrip("/")
        query = f"?token={info['token']}" if info.get("token") else ""
        print(
            f"\nOpen {notebook}:\n"
            f"  in JupyterLab:         {base}/lab/tree/{notebook}{query}\n"
            f"  in Jupyter Notebook 7: {base}/tree/{notebook}{query}\n"
            "Stop with Ctrl+C (or SIGINT or SIGTERM to this process).\n",
            flush=True,
        )

    def stop(self) -> None:
        if self.server is not None:
            _terminate(self.server, SERVER_GRACE)
        if self.sandbox is not None:
            _terminate(self.sandbox, SANDBOX_GRACE)
        self.remove_files()

    def remove_files(self) -> None:
        """What holds the sandbox's key or a login: settings, log, pid file, token cache."""
        for path in (self.env_file, self.log_file, self.pid_file):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.token_dir, ignore_errors=True)


def main(command: list[str]) -> int:
    if not command:
        print("Usage: binder/start COMMAND [ARGUMENTS...]", file=sys.stderr)
        return 2
    for number in STOP_SIGNALS:
        signal.signal(number, _note_stop)
    state_dir = Path(os.environ.get("ZAPIER_NB_STATE_DIR") or Path.home() / ".zapier_nb")
    supervisor = Supervisor(state_dir)
    try:
        env = dict(os.environ, **supervisor.prepare())
        settings = supervisor.start_sandbox()
        if stop_signals:
            return 128 + stop_signals[0]
        env.update({name: settings[name] for name in SANDBOX_SETTINGS})
        env.pop("ZAPIER_API_KEY", None)
        env["ZAPIER_NB_SANDBOX_API_KEY"] = settings["ZAPIER_API_KEY"]
        base_url = settings["ZAPIER_BASE_URL"]
        print(f"zapier_nb sandbox running at {base_url} (settings exported as ZAPIER_*)")
        print(
            f"  its API key:  {settings['ZAPIER_API_KEY']} "
            f"(its home page, {base_url}/, shows every demo credential)"
        )
        print(f"  its log:      {supervisor.log_file}", flush=True)
        status = supervisor.run_server(command, env)
        return 128 + stop_signals[0] if status is None else status
    except FileNotFoundError as error:
        print(f"Cannot run {shlex.join(command)}: {error.strerror}", file=sys.stderr)
        return 127
    finally:
        supervisor.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
