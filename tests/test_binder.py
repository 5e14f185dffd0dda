"""`binder/start` as Binder runs it: the sandbox answers and a tutorial runs against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHECK = """
import os, sys, nbformat, httpx2
from nbclient import NotebookClient
answer = httpx2.get(os.environ["ZAPIER_BASE_URL"] + "/api/v2/auth/check/",
                    headers={"x-api-key": os.environ["ZAPIER_NB_SANDBOX_API_KEY"]})
print("sandbox answered", answer.status_code, answer.json()["email"])
print("ZAPIER_API_KEY exported:", "ZAPIER_API_KEY" in os.environ)
state = os.path.expanduser("~/.zapier_nb")
print("modes", oct(os.stat(state + "/sandbox.env").st_mode & 0o777),
      oct(os.stat(state + "/sandbox.log").st_mode & 0o777))
print("sandbox pid", open(state + "/sandbox.pid").read().strip())
book = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(book, timeout=120, kernel_name="python3").execute()
print("notebook ran; autopilot", os.environ.get("ZAPIER_NB_AUTOPILOT"))
"""


def test_binder_start_serves_the_sandbox_and_a_notebook_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env["HOME"] = str(tmp_path)
    env["ZAPIER_NB_AUTOPILOT"] = "1"  # an unattended run, as in CI: the sandbox approves
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    notebook = REPO / "notebooks" / "02-oauth-pkce-login.ipynb"
    result = subprocess.run(
        ["bash", str(REPO / "binder" / "start"), "python", "-c", CHECK, str(notebook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "zapier_nb sandbox running at http://127.0.0.1:" in result.stdout
    assert "sandbox answered 200 ada@example.com" in result.stdout
    assert "notebook ran; autopilot 1" in result.stdout
    assert "ZAPIER_API_KEY exported: False" in result.stdout
    assert "modes 0o600 0o600" in result.stdout
    pid = int(result.stdout.split("sandbox pid ", 1)[1].split()[0])
    assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), "the sandbox outlived the command"
    state = tmp_path / ".zapier_nb"
    left = sorted(p.name for p in state.iterdir() if p.name != "ipython")
    assert not left, f"the sandbox's key or a login outlived the command in {left}"


def _is_zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status


def test_binder_start_leaves_the_approval_to_a_person(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env["HOME"] = str(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    show = "import os; print('autopilot', os.environ.get('ZAPIER_NB_AUTOPILOT'))"
    result = subprocess.run(
        ["bash", str(REPO / "binder" / "start"), "python", "-c", show],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "autopilot None" in result.stdout
