"""A text field whose value reaches the kernel only in a message on submit.

An ipywidgets `Password` keeps its value in a synced trait, so a notebook saved
with widget state holds the secret in plain text. This field syncs only its
placeholder, label and flags; the typed text is sent once, in a custom message,
and the page clears the input in the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

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
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "zapier-nb-secret-submit jupyter-button";
  const sync = () => {
    input.type = model.get("masked") ? "password" : "text";
    input.placeholder = model.get("placeholder");
    input.disabled = model.get("disabled");
    button.disabled = model.get("disabled");
    button.textContent = model.get("button_label");
  };
  sync();
  model.on("change", sync);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value;
    input.value = "";
    if (value.trim()) {
      model.send({ event: "submit", value });
    }
  });
  form.append(input, button);
  el.appendChild(form);
  return () => model.off("change", sync);
}
export default { render };
"""

_CSS = """
.zapier-nb-secret-form { display: flex; gap: 6px; margin: 4px 0; }
.zapier-nb-secret-input { flex: 1; min-width: 18em; padding: 4px 6px; font-family: monospace; }
"""


class SecretField(anywidget.AnyWidget):
    """A masked field with a submit button; `on_submit(value)` runs in the kernel."""

    _esm = _ESM
    _css = _CSS
    placeholder = traitlets.Unicode("").tag(sync=True)
    button_label = traitlets.Unicode("Submit").tag(sync=True)
    masked = traitlets.Bool(True).tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    testid = traitlets.Unicode("").tag(sync=True)

    def __init__(self, on_submit: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_submit = on_submit
        self.on_msg(self._handle_message)

    def _handle_message(self, _widget: object, content: Any, _buffers: object) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            value = content.get("value")
            if isinstance(value, str):
                self._on_submit(value)
