"""From the approve click to "Logged in as ..." in the widget, with nothing pasted.

    .venv/bin/python benchmarks/bench_redirect.py [--runs 10] [--frontend lab]

Headless Chromium drives a real JupyterLab (or Notebook 7) and a kernel against the
sandbox. Each run logs out, shows a fresh login widget, opens the consent window and
clicks Approve; the page's clock stamps the click (in the consent window) and the moment
the widget's status says "Logged in as" (a MutationObserver in the notebook's page).

- extension path: the consent page opens through the Jupyter server, the server's
  callback page hands the answer to the widget, the kernel exchanges the code;
- loopback path: the consent page redirects to the kernel's listener, which exchanges
  the code; the widget hears of it from the kernel.

The baseline, measured in the same runs, is the approve click to the load of the page
the consent redirects to. Medians; a measurement, not a pass/fail test (exit status 0
unless the benchmark could not run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from report import Row, render_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lab_server import (  # noqa: E402
    CHROMIUM,
    launch_chromium,
    open_notebook,
    run_cell,
    start_jupyterlab,
    write_notebook,
)
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from zapier_nb.sandbox import Sandbox  # noqa: E402

LOOPBACK = "http://127.0.0.1/zapier-nb/callback"
PATHS = {
    "extension": "%zapier_logout\n%zapier_login",
    "loopback": f"%zapier_logout\n%zapier_login --redirect-uri {LOOPBACK}",
}

_WATCH = """
(index) => {
  window.__loggedInAt = null;
  const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[index];
  const look = () => {
    const status = cell.querySelector('[data-testid="zapier-nb-status"]');
    if (window.__loggedInAt === null && status && status.textContent.includes("Logged in as")) {
      window.__loggedInAt = Date.now();
    }
  };
  new MutationObserver(look).observe(cell, { subtree: true, childList: true, characterData: true });
}
"""

_APPROVE = """
() => {
  const at = Date.now();
  document.querySelector('button[value="approve"]').click();
  return at;
}
"""


def _landed(url: str) -> bool:
    return urlsplit(url).path.endswith(("/zapier-nb/callback", "/sandbox/callback/"))


def one_run(page: Page, index: int) -> tuple[float, float]:
    """Seconds from the approve click to "Logged in as", and to the redirected page's load."""
    run_cell(page, index)
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    widget = cell.locator(".zapier-nb-login")
    expect(widget.get_by_test_id("zapier-nb-return")).not_to_contain_text(
        "Checking", timeout=30_000
    )
    page.evaluate(_WATCH, index)
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = popup.value
    consent.wait_for_selector('button[value="approve"]')
    clicked = consent.evaluate(_APPROVE)
    consent.wait_for_url(_landed, wait_until="load", timeout=30_000)
    landed = consent.evaluate(
        "() => performance.timeOrigin + performance.getEntriesByType('navigation')[0].loadEventEnd"
    )
    page.wait_for_function("() => window.__loggedInAt !== null", timeout=30_000)
    logged_in = page.evaluate("() => window.__loggedInAt")
    consent.close()
    return (logged_in - clicked) / 1000, (landed - clicked) / 1000


def measure(runs: int, frontend: str, log: bool = True) -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch, Sandbox() as sandbox:
        sandbox.add_redirect_uri(LOOPBACK)
        base = Path(scratch)
        env = {
            "ZAPIER_BASE_URL": sandbox.base_url,
            "ZAPIER_CLIENT_ID": sandbox.client_id,
            "ZAPIER_REDIRECT_URI": sandbox.redirect_uri,
            "ZAPIER_NB_CACHE_DIR": str(base / "token-cache"),
        }
        server = start_jupyterlab(base / "root", base / "state", env, frontend)
        try:
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                context = browser.new_context(viewport={"width": 1200, "height": 900})
                context.set_default_timeout(30_000)
                page = context.new_page()
                write_notebook(
                    server.root / "bench.ipynb", ["%load_ext zapier_nb", *PATHS.values()]
                )
                open_notebook(page, server, "bench.ipynb")
                run_cell(page, 0)
                for index, path in enumerate(PATHS, start=1):
                    one_run(page, index)  # warm-up: first imports, first listener
                    totals, landings = [], []
                    for number in range(runs):
                        total, landing = one_run(page, index)
                        totals.append(total)
                        landings.append(landing)
                        if log:
                            print(
                                f"{path} run {number + 1}: {total * 1000:.0f} ms "
                                f"(page loaded at {landing * 1000:.0f} ms)",
                                file=sys.stderr,
                            )
                    rows.append(
                        Row(
                            section="redirect",
                            measurement=f"approve click to 'Logged in as' ({frontend})",
                            contender=f"{path} path ({runs} runs)",
                            median_s=statistics.median(totals),
                            baseline="approve click to the redirected page's load",
                            baseline_median_s=statistics.median(landings),
                            target="-",
                            met=None,
                            detail={"runs_s": totals, "landings_s": landings},
                        )
                    )
                browser.close()
        finally:
            server.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench_redirect.py", description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs per path (default 10)")
    parser.add_argument("--frontend", choices=("lab", "notebook"), default="lab")
    parser.add_argument("--quiet", action="store_true", help="no line per run on stderr")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}: install Debian's chromium", file=sys.stderr)
        return 1
    rows = measure(args.runs, args.frontend, log=not args.quiet)
    print(render_text(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
