"""A throwaway JupyterHub for browser tests: the hub from PyPI, the pure-Python
configurable-http-proxy, DummyAuthenticator, one home per user, on free loopback ports.

Run as root (as CI is), the users are real Unix users created for the run (and removed
after it), spawned by `LocalProcessSpawner` as themselves: their files are protected
from each other by the file system, as on a real hub. Run as anyone else, the users
share the test's own account (`SimpleLocalProcessSpawner`, a home per user).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
LAB_SETTINGS = {
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _world_usable(path: Path) -> bool:
    """Whether any user may run this file: every folder above it searchable by all."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in path.parents) and bool(path.stat().st_mode & 0o001)


def shared_python(folder: Path) -> tuple[list[str], dict[str, str]] | None:
    """A Python any user may run, with this environment's packages; None if there is none.

    The test environment's own Python may sit in a folder only its owner can enter (a
    pyenv under /root). Then the system's Python of the same version runs the users'
    servers and kernels, given this environment's site-packages, Jupyter data and config
    (so the extension is enabled as on install) through its environment.
    """
    data = Path(sys.prefix) / "share/jupyter"
    config = Path(sys.prefix) / "etc/jupyter"
    site_packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    if not all(_world_usable(path) for path in (site_packages, data, config)):
        return None  # the environment itself is private to its owner
    if _world_usable(Path(sys.executable)):
        return [sys.executable], {}
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists() or not _world_usable(system):
        return None
    shim = folder / "python-shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import site, sys\n"
        "before = list(sys.path)\n"
        f"site.addsitedir({str(site_packages)!r})\n"
        "sys.path[:] = [p for p in sys.path if p not in before] + before\n"
    )
    shim.chmod(0o755)
    (shim / "sitecustomize.py").chmod(0o644)
    env = {
        "PYTHONPATH": str(shim),
        "JUPYTER_PATH": str(data),
        "JUPYTER_CONFIG_PATH": str(config),
        "JUPYTERLAB_DIR": str(data / "lab"),
    }
    return [str(system)], env


def real_users_possible() -> bool:
    return os.geteuid() == 0 and shutil.which("useradd") is not None


@dataclass
class Hub:
    """A running hub: its public URL, its folder, its log, and its users' homes."""

    process: subprocess.Popen[bytes]
    url: str
    folder: Path
    log: Path
    homes: dict[str, Path] = field(default_factory=dict)
    real_users: bool = False

    def home(self, user: str) -> Path:
        return self.homes[user]

    def write_as(self, user: str, relative: str, text: str) -> Path:
        """Write a file into a user's home, owned by that user."""
        path = self.homes[user] / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if self.real_users:
            entry = pwd.getpwnam(user)
            target = path
            while target != self.homes[user]:
                os.chown(target, entry.pw_uid, entry.pw_gid)
                target = target.parent
        return path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


_CONFIG = """
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = {bind_url!r}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = {api_url!r}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.db_url = {db_url!r}
c.JupyterHub.cookie_secret_file = {cookie_secret!r}
c.JupyterHub.pid_file = {pid_file!r}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.spawner_class = {spawner!r}
c.Spawner.cmd = {command!r}
c.Spawner.default_url = "/lab"
c.Spawner.args = {args!r}
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.JupyterHub.log_level = "INFO"
{extra}
"""


def start_hub(users: list[str], environment: dict[str, str], proxy_port: int) -> Hub:
    """Start a hub at http://127.0.0.1:`proxy_port` whose single-user servers get
    `environment`; `users` get homes."""
    folder = Path(tempfile.mkdtemp(prefix="zapier-nb-hub-", dir="/tmp"))
    folder.chmod(0o755)
    python = shared_python(folder) if real_users_possible() else None
    real = python is not None
    homes_root = folder / "homes"
    homes_root.mkdir()
    homes_root.chmod(0o755)
    homes = {user: homes_root / user for user in users}
    for user, home in homes.items():
        home.mkdir(mode=0o700)
        home.chmod(0o700)
        if real:
            _create_user(user, home)
        for relative, values in LAB_SETTINGS.items():
            settings = home / ".jupyter/lab/user-settings" / relative
            settings.parent.mkdir(parents=True, exist_ok=True)
            settings.write_text(json.dumps(values))
        if real:
            entry = pwd.getpwnam(user)
            for path in [home, *home.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
    hub_port, api_port = free_port(), free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    args = [
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
    ]
    command = [str(VENV_BIN / "jupyterhub-singleuser")]
    if python is not None:
        spawner, extra = "localprocess", ""
        command = [*python[0], "-m", "jupyterhub.singleuser"]
        environment = {**environment, **python[1]}
    else:
        spawner = "simple"
        extra = (
            f"c.SimpleLocalProcessSpawner.home_dir_template = {str(homes_root) + '/{username}'!r}"
        )
        if os.geteuid() == 0:
            args.append("--allow-root")
    config = folder / "jupyterhub_config.py"
    config.write_text(
        _CONFIG.format(
            bind_url=url + "/",
            hub_port=hub_port,
            api_url=f"http://127.0.0.1:{api_port}",
            proxy=str(VENV_BIN / "configurable-http-proxy"),
            db_url=f"sqlite:///{folder / 'hub.sqlite'}",
            cookie_secret=str(folder / "cookie_secret"),
            pid_file=str(folder / "hub.pid"),
            spawner=spawner,
            command=command,
            args=args,
            environment=environment,
            extra=extra,
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "JUPYTER"))}
    env["CONFIGPROXY_AUTH_TOKEN"] = secrets.token_hex(16)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    log = folder / "hub.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
        )
    hub = Hub(process, url, folder, log, homes, real)
    try:
        _wait_for_hub(hub)
    except BaseException:
        stop_hub(hub)
        raise
    return hub


def stop_hub(hub: Hub) -> None:
    hub.stop()
    if hub.real_users:
        for user in hub.homes:
            _remove_user(user)
    shutil.rmtree(hub.folder, ignore_errors=True)


def _wait_for_hub(hub: Hub) -> None:
    deadline = time.monotonic() + 90
    last = "no answer"
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"JupyterHub exited at start:\n{hub.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{hub.url}/hub/api/", timeout=5) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise TimeoutError(f"JupyterHub did not answer within 90 s ({last}):\n{hub.log.read_text()}")


def _create_user(user: str, home: Path) -> None:
    _remove_user(user)
    subprocess.run(
        ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/sh", user],
        check=True,
        capture_output=True,
    )


def _remove_user(user: str) -> None:
    """Delete a user this module created, once its last processes (a kernel shutting down
    after its server) have ended; those still running after 15 s are ended first."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    deadline = time.monotonic() + 15
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _processes_of(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if subprocess.run(["userdel", user], check=False, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"could not remove the test user {user}")


def _processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found
