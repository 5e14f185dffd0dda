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
from typing import Any

import anywidget
import traitlets

from ._display import html_with_links

__all__ = ["SecretField"]

_ESM = """
function render({ model, el }) {
  const form = document.createElement("form");
  form.className = "zapier-nb-secret-form";
  form.setAttribute("data-lm-suppress-shortcuts", "true");
  const input = document.createElement("input");
  input.className = "zapier-nb-secret-input";
  if (model.get("testid")) { input.dataset.testid = model.get("testid"); }
  input.autocomplete = "off";
  input.spellcheck = false;
  const reveal = document.createElement("button");
  reveal.type = "button";
  reveal.className = "zapier-nb-secret-reveal jupyter-button";
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "zapier-nb-secret-submit jupyter-button";
  const message = document.createElement("div");
  message.className = "zapier-nb-secret-message";
  message.setAttribute("role", "status");
  let shown = false;
  const sync = () => {
    input.type = model.get("masked") && !shown ? "password" : "text";
    input.placeholder = model.get("placeholder");
    input.disabled = model.get("disabled");
    submit.disabled = model.get("disabled");
    submit.textContent = model.get("button_label");
    reveal.hidden = !(model.get("masked") && model.get("revealable"));
    reveal.textContent = shown ? "Hide" : "Show";
    reveal.setAttribute("aria-pressed", String(shown));
    reveal.title = shown ? "Mask what you pasted" : "Show what you pasted";
    message.innerHTML = model.get("message");
    message.dataset.kind = model.get("message_kind");
    message.hidden = !model.get("message");
  };
  sync();
  model.on("change", sync);
  const send = () => {
    const value = input.value;
    input.value = "";
    model.send({ event: "submit", value });
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  // The notebook around the field may swallow Enter before the form sees it.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      event.stopPropagation();
      if (!input.disabled) send();
    }
  });
  input.addEventListener("input", () => {
    if (model.get("message")) {
      model.set("message", "");
      model.save_changes();
    }
  });
  reveal.addEventListener("click", () => {
    shown = !shown;
    sync();
    input.focus();
  });
  form.append(input, reveal, submit);
  el.append(form, message);
  return () => model.off("change", sync);
}
export default { render };
"""

_CSS = """
.zapier-nb-secret-form { display: flex; gap: 6px; margin: 4px 0; }
.zapier-nb-secret-input { flex: 1; min-width: 18em; padding: 4px 6px; font-family: monospace;
                          line-height: 1.6; }
.zapier-nb-secret-reveal[hidden], .zapier-nb-secret-message[hidden] { display: none; }
.zapier-nb-secret-message { margin: 2px 0 6px; font-size: 13px; }
.zapier-nb-secret-message[data-kind="error"] { color: #b00020; }
.zapier-nb-secret-message[data-kind="error"]::before { content: "\\26A0\\FE0E  "; }
.jupyter-widgets-disconnected .zapier-nb-secret-form,
.jupyter-widgets-disconnected .zapier-nb-secret-message { display: none; }
"""


class SecretField(anywidget.AnyWidget):
    """A masked field with a submit button; `on_submit(value)` runs in the kernel.

    `value` is what was typed, possibly empty. `say(text)` and `warn(text)` show a
    line under the field, escaped, its web addresses made links; the next keystroke
    clears it.
    """

    _esm = _ESM
    _css = _CSS
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
