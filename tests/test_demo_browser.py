"""Tutorial 01 in Jupyter Notebook 7, at the `/notebooks/...` address, served by the demo's
own installation (`scripts/demo.sh`, its `lab` extra), in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from lab_server import NEEDS_CHROMIUM, JupyterLab, open_notebook, start
from playwright.sync_api import BrowserContext, expect
from test_demo import REPO, Output, Running, _default_sigint, _demo_env, _kill_group

pytestmark = NEEDS_CHROMIUM
TUTORIAL = "01-quick-start-api-key.ipynb"


def test_tutorial_01_runs_in_notebook_7_from_the_demo(
    tmp_path: Path, context: BrowserContext
) -> None:
    # The demo serves the repository's tutorials: no autosave may change them.
    tutorial = REPO / "notebooks" / TUTORIAL
    committed = tutorial.read_bytes()
    docmanager = tmp_path / "lab-settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    command = ["bash", str(REPO / "scripts" / "demo.sh"), "--port=0"]
    process = subprocess.Popen(
        # Playwright's page actions reach the app through window.jupyterapp.
        [*command, "--JupyterNotebookApp.expose_app_in_browser=True"],
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
        printed = output.wait_for(re.compile(r"in Jupyter Notebook 7: +(http\S+)")).group(1)
        address = urlsplit(printed)
        assert address.path == f"/tree/{TUTORIAL}"
        token = address.query.removeprefix("token=")
        server = JupyterLab(
            process=process,  # type: ignore[arg-type]
            url=f"{address.scheme}://{address.netloc}/",
            token=token,
            root=REPO / "notebooks",
            state=tmp_path / "state",
            log=tmp_path / "unused.log",
            frontend="notebook",
        )
        page = context.new_page()
        open_notebook(page, server, TUTORIAL)  # /notebooks/01-...: Notebook 7, not JupyterLab
        assert urlsplit(page.url).path == f"/notebooks/{TUTORIAL}"
        expect(
            page.get_by_role("heading", name=re.compile("Quick start: an API key"))
        ).to_be_visible()
        start(page, "notebook:run-all-cells")
        # The API key lesson logs in with the sandbox's key the demo passes to its kernels.
        checked = page.locator(".jp-OutputArea-output").filter(has_text="ada@example.com")
        expect(checked.first).to_be_visible(timeout=60_000)
        expect(page.locator(".jp-OutputArea-output", has_text="Traceback")).to_have_count(0)
        page.close()
        process.terminate()
        process.wait(timeout=90)
        running.assert_all_stopped()
    finally:
        _kill_group(process.pid)
        if tutorial.read_bytes() != committed:
            tutorial.write_bytes(committed)
            raise AssertionError(f"the demo changed {TUTORIAL} (restored)")
