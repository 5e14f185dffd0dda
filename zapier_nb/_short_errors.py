"""A `ZapierError` in a notebook cell shown as one line: its name and its message.

Every zapier_nb message says what failed and what to do next, so the traceback
through the HTTP library adds nothing for the reader, and a saved notebook would
keep it, with the machine's paths. `%load_ext zapier_nb` and
`zapier_nb.tutorial.setup()` install this as IPython's custom exception handler for
`ZapierError` only; every other exception keeps its usual traceback.

`%config ZapierMagics.short_errors = False` shows full tracebacks again, and `%tb`
shows the last one in full either way.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

from ._errors import ZapierError

__all__ = ["install_short_errors", "short_error_line"]

logger = logging.getLogger("zapier_nb")

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"


def install_short_errors(shell: Any) -> bool:
    """Show `ZapierError`s as one line in this IPython shell; False if another handler is set.

    IPython holds one custom handler at a time: one installed by something else is left
    alone.
    """
    current = tuple(getattr(shell, "custom_exceptions", ()))
    if current and current != (ZapierError,):
        logger.info("IPython already has a custom exception handler; zapier_nb leaves it")
        return False
    shell.set_custom_exc((ZapierError,), _show_zapier_error)
    return True


def short_error_line(error: BaseException, *, color: bool = True) -> str:
    """`LoginRequiredError: This session is not logged in. Log in with ...`"""
    message = getattr(error, "message", None) or str(error)
    name = type(error).__name__
    return f"{_RED}{name}{_RESET}: {message}" if color else f"{name}: {message}"


def _wanted(shell: Any) -> bool:
    """The `short_errors` setting of the shell's ZapierMagics (on unless it says off)."""
    for configurable in getattr(shell, "configurables", ()):
        if type(configurable).__name__ == "ZapierMagics":
            return bool(getattr(configurable, "short_errors", True))
    return True


def _show_zapier_error(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: TracebackType | None,
    tb_offset: int | None = None,
) -> None:
    """IPython's custom exception handler: it must display the error itself."""
    if not _wanted(shell):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return
    # What `%tb` and `%debug` read, as IPython's own display would leave it.
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = value
    color = str(getattr(shell, "colors", "")).lower() != "nocolor"
    shell._showtraceback(etype, value, [short_error_line(value, color=color)])
