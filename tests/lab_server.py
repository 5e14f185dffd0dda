"""A throwaway JupyterLab or Notebook 7 server for browser tests, and the page actions they share.

Notebook 7 is built from JupyterLab's components: the same `window.jupyterapp`, commands,
notebook panel and widget manager settings, so one set of page actions serves both.

The server runs as a child of this Python, with its own config, data, runtime, settings and
workspace folders, token auth and a free port; widget state saving is switched on, as a user
who ticks "Save Widget State Automatically" would have it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright

# Debian's Chromium, started so that it does not reach for the network on its own.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"no Chromium at {CHROMIUM}: install Debian's `chromium` to run the browser tests",
)


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium (never a browser of Playwright's own download)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

_USER_SETTINGS = {
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

# A notebook panel whose kernel can run cells: the toolbar's idle indicator alone is not enough.
_KERNEL_READY = """
(path) => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.context || panel.context.path !== path) {
    return false;
  }
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  return ctx.isReady && !!kernel && kernel.connectionStatus === "connected"
    && ctx.kernelDisplayStatus === "idle" && panel.context.isReady;
}
"""

# `commands.execute` returns a promise that may never settle: race it against a timer.
_EXECUTE = """
async ([id, args, ms]) => {
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${id} took longer than ${ms} ms`)), ms));
  await Promise.race([window.jupyterapp.commands.execute(id, args), timer]);
}
"""

_START_COMMAND = """
([id, args]) => { void window.jupyterapp.commands.execute(id, args); }
"""

# Select one cell, let a frame pass (focus events may still move the active cell), then run it.
_RUN_CELL = """
async ([index, ms]) => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  for (let attempt = 0; attempt < 20; attempt++) {
    notebook.deselectAll();
    notebook.activeCellIndex = index;
    notebook.mode = "command";
    await frame();
    await frame();
    if (notebook.activeCellIndex === index) break;
  }
  const active = notebook.activeCellIndex;
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`running cell ${index} took longer than ${ms} ms`)), ms));
  const ran = await Promise.race([app.commands.execute("notebook:run-cell", {}), timer]);
  return [ran === true, active];
}
"""


@dataclass
class JupyterLab:
    """A running server: where it listens, its token, its root folder, its log, its front end."""

    process: subprocess.Popen[bytes]
    url: str
    token: str
    root: Path
    state: Path
    log: Path
    frontend: str  # "lab" (JupyterLab) or "notebook" (Notebook 7)

    def notebook_url(self, name: str) -> str:
        if self.frontend == "notebook":
            return f"{self.url}notebooks/{name}?token={self.token}"
        return f"{self.url}lab/tree/{name}?reset&token={self.token}"

    def request(self, method: str, path: str, timeout: float = 10) -> int:
        """Send an authenticated request to the server; its status code."""
        address = urlsplit(self.url)
        connection = http.client.HTTPConnection(address.netloc, timeout=timeout)
        try:
            connection.request(method, address.path + path, headers=self._auth)
            return connection.getresponse().status
        finally:
            connection.close()

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the server's REST API (`api/contents/...`); its JSON answer."""
        address = urlsplit(self.url)
        connection = http.client.HTTPConnection(address.netloc, timeout=timeout)
        headers = {**self._auth, "Content-Type": "application/json"}
        try:
            payload = None if body is None else json.dumps(body)
            connection.request(method, address.path + path, body=payload, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        finally:
            connection.close()
        assert 200 <= answer.status < 300, f"{method} {path}: HTTP {answer.status} {data[:300]!r}"
        return json.loads(data) if data else None

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        """Ask the server to shut down (kernels included), then make sure it has."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.request("POST", "api/shutdown")
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def sandbox_settings(sandbox: Any, cache_dir: Path, **more: str) -> dict[str, str]:
    """A server's environment pointing its kernels at `sandbox` by OAuth, with a token cache
    of its own (never the user's)."""
    return {
        "ZAPIER_BASE_URL": sandbox.base_url,
        "ZAPIER_CLIENT_ID": sandbox.client_id,
        "ZAPIER_REDIRECT_URI": sandbox.redirect_uri,
        "ZAPIER_NB_CACHE_DIR": str(cache_dir),
        **more,
    }


def start_jupyterlab(
    root: Path,
    state: Path,
    env: dict[str, str],
    frontend: str = "lab",
    args: Sequence[str] = (),
    wrapper: Sequence[str] = (),
) -> JupyterLab:
    """Start JupyterLab (or, for frontend "notebook", Notebook 7; "server", a bare Jupyter
    Server) serving `root`, its own state under `state`, `env` added to its own, `args`
    added to its command line, the whole command run by `wrapper` if given (binder/start)."""
    dirs = {
        name: state / name
        for name in ("config", "data", "runtime", "ipython", "settings", "workspaces")
    }
    for folder in (root, *dirs.values()):
        folder.mkdir(parents=True, exist_ok=True)
    for relative, values in _USER_SETTINGS.items():
        path = dirs["settings"] / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "JUPYTER"))}
    child_env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        IPYTHONDIR=str(dirs["ipython"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        PYTHONUNBUFFERED="1",
    )
    child_env.update(env)
    token = secrets.token_hex(16)
    command = [
        *wrapper,
        sys.executable,
        "-m",
        {"lab": "jupyterlab", "notebook": "notebook", "server": "jupyter_server"}[frontend],
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        "--port=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *args,
    ]
    log = state / "jupyterlab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=child_env, cwd=root
        )
    server = JupyterLab(process, "", token, root, state, log, frontend)
    try:
        server.url = _wait_for_url(process, dirs["runtime"], log)
        _wait_for_status(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_for_url(process: subprocess.Popen[bytes], runtime: Path, log: Path) -> str:
    """The server's URL from its runtime file (the only server using this runtime folder;
    its pid may be a wrapper's child's)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited at start:\n{log.read_text()[-3000:]}")
        for info in runtime.glob("jpserver-*.json"):
            try:
                url = str(json.loads(info.read_text())["url"])
            except (ValueError, KeyError, OSError):
                continue  # still being written
            return url if url.endswith("/") else url + "/"
        time.sleep(0.1)
    raise TimeoutError(f"JupyterLab did not start within 60 s:\n{log.read_text()[-3000:]}")


def _wait_for_status(server: JupyterLab) -> None:
    deadline = time.monotonic() + 30
    status: int | str = "no answer"
    while time.monotonic() < deadline:
        try:
            status = server.request("GET", "api/status", timeout=5)
        except OSError as exc:
            status = repr(exc)
        if status == 200:
            return
        time.sleep(0.1)
    raise TimeoutError(f"JupyterLab's /api/status answered {status} for 30 s")


def write_notebook(path: Path, sources: list[str]) -> None:
    """A fresh notebook (nbformat 4.5) of code cells, never run."""
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{number}",
            "metadata": {},
            "outputs": [],
            "source": source,
        }
        for number, source in enumerate(sources)
    ]
    metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    notebook = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook, indent=1) + "\n")


def read_notebook(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- page actions ------------------------------------------------------------------------


def open_notebook(page: Page, server: JupyterLab, name: str, timeout_ms: float = 60_000) -> None:
    """Open a notebook and wait until its kernel is started, connected and idle."""
    page.goto(server.notebook_url(name))
    page.wait_for_function(_KERNEL_READY, arg=name, timeout=timeout_ms, polling=100)
    app = {"lab": "JupyterLab", "notebook": "Jupyter Notebook"}[server.frontend]
    assert page.evaluate("() => window.jupyterapp.name") == app


def execute(page: Page, command: str, args: dict[str, Any] | None = None, ms: int = 20_000) -> None:
    """Run a JupyterLab command and wait for it to finish, at most `ms` milliseconds."""
    page.evaluate(_EXECUTE, [command, args or {}, ms])


def start(page: Page, command: str, args: dict[str, Any] | None = None) -> None:
    """Start a JupyterLab command without waiting for it (wait on the page instead)."""
    page.evaluate(_START_COMMAND, [command, args or {}])


def run_cell(page: Page, index: int, ms: int = 30_000) -> None:
    """Make cell `index` the only selected one, run it, and wait until it has run."""
    ran, active = page.evaluate(_RUN_CELL, [index, ms])
    assert active == index, f"cell {active} was active when cell {index} was to run"
    assert ran, f"JupyterLab did not run cell {index}"


def save(page: Page) -> None:
    """Blur whatever has focus (widget inputs keep key presses), then save and checkpoint."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    execute(page, "docmanager:save")


def secrets_in_files(folders: list[Path], secrets: list[str]) -> tuple[list[str], list[Path]]:
    """The secrets (first 8 characters) found in any file under the folders, and the files
    searched; a browser journey asserts the first is empty."""
    found, checked = [], []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            checked.append(path)
            data = path.read_bytes()
            found += [f"{s[:8]}... in {path}" for s in secrets if s and s.encode() in data]
    return found, checked
