"""Part 1: `import zapier_nb` and `%load_ext zapier_nb`, each in fresh interpreters.

Each snippet runs in its own `python -c` subprocess and times only the statement of
interest with `time.perf_counter` (interpreter start-up is the same for every
contender and left out). The contenders are interleaved run by run, in an order
that rotates, so that machine noise reaches them alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from report import Row, median

TARGET = 1.10
FIRST_USE_TARGET = 1.30
WATCHED_MODULES = ("IPython", "ipywidgets", "anywidget", "httpx", "traitlets", "asyncio")

# Each snippet sets `seconds` and leaves `sys` imported; the runner prints the result.
_PLAIN_PRELUDE = "import sys, time\n"
_SHELL_PRELUDE = (
    "import sys, time\n"
    "from traitlets.config import Config\n"
    "from IPython.core.interactiveshell import InteractiveShell\n"
    "config = Config()\n"
    "config.HistoryManager.enabled = False\n"
    "shell = InteractiveShell.instance(config=config)\n"
)
_EPILOGUE = (
    "import json\n"
    "print(json.dumps({'seconds': seconds, "
    "'modules': {name: name in sys.modules for name in %r}}))\n"
)


def _timed(statement: str) -> str:
    return f"started = time.perf_counter()\n{statement}\nseconds = time.perf_counter() - started\n"


SNIPPETS: dict[str, str] = {
    "deps": _PLAIN_PRELUDE + _timed("import httpx2, pydantic"),
    "import": _PLAIN_PRELUDE + _timed("import zapier_nb"),
    # The package loads Session lazily; this is what the first use of it costs.
    "first_use": _PLAIN_PRELUDE
    + _timed("import zapier_nb\nzapier_nb.Session(api_key='k', base_url='https://x.test')"),
    "shell_deps": _SHELL_PRELUDE + _timed("import httpx2, pydantic"),
    "load_ext": _SHELL_PRELUDE
    + _timed("shell.run_line_magic('load_ext', 'zapier_nb')")
    + "assert 'zapier_nb' in shell.extension_manager.loaded\n",
}


@dataclass
class ImportResult:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    modules: dict[str, dict[str, bool]] = field(default_factory=dict)


def _run_snippet(code: str, env: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", code + _EPILOGUE % (WATCHED_MODULES,)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"an import snippet failed:\n{completed.stderr.strip()}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def measure(runs: int, log: Callable[[str], None]) -> ImportResult:
    """`runs` timed runs of every snippet, interleaved, after one untimed warm-up round."""
    names = list(SNIPPETS)
    result = ImportResult(seconds={name: [] for name in names})
    with tempfile.TemporaryDirectory(prefix="zapier-nb-bench-ipython-") as ipython_dir:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP", "ZAPIER_"))
        }
        env["IPYTHONDIR"] = ipython_dir
        for name in names:  # warm-up: page cache, bytecode, the IPython profile directory
            _run_snippet(SNIPPETS[name], env)
        for run in range(runs):
            order = names[run % len(names) :] + names[: run % len(names)]
            for name in order:
                answer = _run_snippet(SNIPPETS[name], env)
                result.seconds[name].append(float(answer["seconds"]))
                # What got imported is the same each run; keep the last one seen.
                result.modules[name] = {
                    key: bool(value) for key, value in answer["modules"].items()
                }
            log(f"  import run {run + 1}/{runs}")
    return result


def rows(result: ImportResult) -> list[Row]:
    seconds = {name: median(values) for name, values in result.seconds.items()}
    after_import = result.modules["import"]
    after_load_ext = result.modules["load_ext"]
    pulled = [name for name in ("IPython", "ipywidgets") if after_import.get(name)]
    import_ratio = seconds["import"] / seconds["deps"]
    load_ext_ratio = seconds["load_ext"] / seconds["shell_deps"]
    imported_note = "none" if not pulled else ", ".join(pulled)
    return [
        Row(
            section="import",
            measurement="import zapier_nb (fresh interpreter)",
            contender=f"zapier_nb (IPython/ipywidgets imported: {imported_note})",
            median_s=seconds["import"],
            baseline="import httpx2, pydantic",
            baseline_median_s=seconds["deps"],
            target=f"<= {TARGET:.2f}x, no IPython/ipywidgets",
            met=import_ratio <= TARGET and not pulled,
            detail={
                "runs": len(result.seconds["import"]),
                "seconds": result.seconds["import"],
                "baseline_seconds": result.seconds["deps"],
                "modules_after_import": after_import,
                "modules_after_deps": result.modules["deps"],
            },
        ),
        Row(
            section="import",
            measurement="import zapier_nb + first Session() (fresh interpreter)",
            contender="zapier_nb (the lazily loaded part: Session, models, auth)",
            median_s=seconds["first_use"],
            baseline="import httpx2, pydantic",
            baseline_median_s=seconds["deps"],
            target=f"<= {FIRST_USE_TARGET:.2f}x",
            met=seconds["first_use"] / seconds["deps"] <= FIRST_USE_TARGET,
            detail={
                "runs": len(result.seconds["first_use"]),
                "seconds": result.seconds["first_use"],
                "baseline_seconds": result.seconds["deps"],
            },
        ),
        Row(
            section="import",
            measurement="%load_ext zapier_nb (IPython shell ready)",
            contender=(
                "zapier_nb (ipywidgets imported: "
                f"{'yes' if after_load_ext.get('ipywidgets') else 'no'})"
            ),
            median_s=seconds["load_ext"],
            baseline="import httpx2, pydantic",
            baseline_median_s=seconds["shell_deps"],
            target=f"<= {TARGET:.2f}x",
            met=load_ext_ratio <= TARGET,
            detail={
                "runs": len(result.seconds["load_ext"]),
                "seconds": result.seconds["load_ext"],
                "baseline_seconds": result.seconds["shell_deps"],
                "modules_after_load_ext": after_load_ext,
            },
        ),
    ]
