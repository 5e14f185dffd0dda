"""A text field whose value reaches the kernel only in a message on submit.

An ipywidgets `Password` keeps its value in a synced trait, so a notebook saved
with widget state holds the secret in plain text. This field syncs only its
placeholder, label, flags and the message shown under it; the typed text is sent
once, in a custom message, and the page clears the input in the same moment.

Enter submits, as the button does; an empty submit reaches the kernel too, so the
kernel can say what is missing. Typing again clears the message of the last
attempt. With `revealable`, a Show/Hide button switches the input between masked
and plain text on this page only: what is typed is still never synced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ._display import html_with_links

__all__ = ["SecretField"]

_STATIC = Path(__file__).with_name("_static")


class SecretField(anywidget.AnyWidget):
    """A masked field with a submit button; `on_submit(value)` runs in the kernel.

    `value` is what was typed, possibly empty. `say(text)` and `warn(text)` show a
    line under the field, escaped, its web addresses made links; the next keystroke
    clears it.
    """

    _esm = (_STATIC / "secret_field.js").read_text(encoding="utf-8")
    _css = (_STATIC / "secret_field.css").read_text(encoding="utf-8")
    placeholder = traitlets.Unicode("").tag(sync=True)
    button_label = traitlets.Unicode("Submit").tag(sync=True)
    masked = traitlets.Bool(True).tag(sync=True)
    revealable = traitlets.Bool(False).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    testid = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    message_kind = traitlets.Enum(["info", "error"], default_value="info").tag(sync=True)

    def __init__(self, on_submit: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_submit = on_submit
        self.on_msg(self._handle_message)

    def say(self, text: str) -> None:
        """Show an informative line under the field (an empty text hides it)."""
        with self.hold_sync():
            self.message_kind = "info"
            self.message = html_with_links(text)

    def warn(self, text: str) -> None:
        """Show a warning under the field."""
        with self.hold_sync():
            self.message_kind = "error"
            self.message = html_with_links(text)

    def _handle_message(self, _widget: object, content: Any, _buffers: object) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            value = content.get("value")
            if isinstance(value, str):
                # A warning equal to the last one must still reach the page as new.
                self.message = ""
                self._on_submit(value)
