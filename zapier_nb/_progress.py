"""Progress of `run_many`: an ipywidgets bar in a notebook, a line on stderr at a terminal.

tqdm's `auto` bar is used at a terminal when tqdm happens to be installed. Nothing here
is imported by the package until a progress bar is wanted.
"""

from __future__ import annotations

import html
import importlib
import sys
import time
from typing import Any

from ._interactive import Progress, Silent
from ._kernel import in_notebook
from ._redact import printable

__all__ = ["progress_bar"]

_MIN_INTERVAL = 0.1


def _label(done: int, total: int, failed: int) -> str:
    text = f"{done}/{total} done"
    return text + (f", {failed} failed" if failed else "")


class _WidgetBar:
    def __init__(self, total: int, description: str) -> None:
        import ipywidgets as widgets  # type: ignore[import-untyped]
        from IPython.display import display

        self._total = total
        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), description="Running")
        self.label = widgets.HTML(_label(0, total, 0)).add_class("zapier-nb-progress-label")
        self.box = widgets.HBox([self.bar, self.label]).add_class("zapier-nb-progress")
        self.bar.add_class("zapier-nb-progress-bar")
        self.box.layout.title = printable(description)
        display(self.box)  # type: ignore[no-untyped-call]
        self._last = 0.0

    def update(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if done < self._total and now - self._last < _MIN_INTERVAL:
            return
        self._last = now
        self.bar.value = done
        self.label.value = _label(done, self._total, failed)

    def close(self, ending: str, summary: str, *, ok: bool) -> None:
        self.bar.value = self.bar.value if not ok else self.bar.max
        self.bar.bar_style = "success" if ok else "warning"
        self.bar.description = ending.partition(":")[0]
        self.label.value = html.escape(ending)
        self.box.layout.title = summary


class _LineBar:
    """`\\r`-rewritten progress line on stderr."""

    def __init__(self, total: int, description: str) -> None:
        self._total = total
        self._description = printable(description)
        self._last = 0.0
        self._write(_label(0, total, 0))

    def _write(self, text: str, end: str = "") -> None:
        sys.stderr.write(f"\r{self._description}: {text}\x1b[K{end}")
        sys.stderr.flush()

    def update(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if done < self._total and now - self._last < _MIN_INTERVAL:
            return
        self._last = now
        self._write(_label(done, self._total, failed))

    def close(self, ending: str, summary: str, *, ok: bool) -> None:
        self._write(f"{ending}. {summary}", end="\n")


class _TqdmBar:
    def __init__(self, tqdm: Any, total: int, description: str) -> None:
        self._bar = tqdm(total=total, desc=printable(description), file=sys.stderr)
        self._done = 0

    def update(self, done: int, failed: int) -> None:
        self._bar.update(done - self._done)
        self._done = done
        if failed:
            self._bar.set_postfix(failed=failed, refresh=False)

    def close(self, ending: str, summary: str, *, ok: bool) -> None:
        self._bar.close()
        sys.stderr.write(f"{ending}. {summary}\n")


def progress_bar(total: int, *, show: bool | None, description: str) -> Progress:
    """A notebook bar, or a terminal line (`show=None`: only when stderr is a tty); the core
    (`_interactive.progress_bar`) asks for one only when there is something to show."""
    if in_notebook():
        return _WidgetBar(total, description)
    if show is None and not sys.stderr.isatty():
        return Silent()
    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        return _LineBar(total, description)
    return _TqdmBar(tqdm, total, description)
