"""A widget for teaching AI Actions: pick an action, write instructions, Preview or Run.

The run happens on a worker thread, so the kernel keeps reading the front end's
messages: a second click while a run is in flight is refused instead of queued. The
widget's state holds action ids, descriptions, the instructions and the result table;
the session (and its credentials) stays in the kernel.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import TYPE_CHECKING

import ipywidgets as widgets  # type: ignore[import-untyped]

from ._default_session import get_session
from ._errors import ZapierError
from ._results import ActionResult

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["ActionRunner"]

logger = logging.getLogger("zapier_nb")


class ActionRunner(widgets.VBox):  # type: ignore[misc]
    """Preview and run a session's AI Actions; the latest result shows below."""

    def __init__(self, session: Session | None = None, *, action: str | None = None) -> None:
        self.session = session or get_session()
        self.result: ActionResult | None = None
        self.refused_clicks = 0
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.picker = widgets.Dropdown(description="Action", options=[]).add_class(
            "zapier-nb-runner-action"
        )
        self.picker.layout.width = "60%"
        self.instructions = widgets.Textarea(
            placeholder="What should the action do? In plain words.",
            description="Instructions",
        ).add_class("zapier-nb-runner-instructions")
        self.instructions.layout.width = "60%"
        self.preview_button = widgets.Button(description="Preview", icon="eye").add_class(
            "zapier-nb-runner-preview"
        )
        self.run_button = widgets.Button(
            description="Run", icon="play", button_style="warning"
        ).add_class("zapier-nb-runner-run")
        self.reload_button = widgets.Button(description="Reload actions", icon="refresh")
        self.status = widgets.HTML().add_class("zapier-nb-runner-status")
        self.output = widgets.HTML().add_class("zapier-nb-runner-result")
        self.preview_button.on_click(lambda _: self._start(preview=True))
        self.run_button.on_click(lambda _: self._start(preview=False))
        self.reload_button.on_click(lambda _: self.reload())
        buttons = widgets.HBox([self.preview_button, self.run_button, self.reload_button])
        super().__init__([self.picker, self.instructions, buttons, self.status, self.output])
        self.add_class("zapier-nb-runner")
        self.reload(select=action)

    def __repr__(self) -> str:
        return f"Zapier AI Actions runner for {self.session!r} (shown in Jupyter)"

    @property
    def busy(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive()

    def reload(self, select: str | None = None) -> None:
        """Fetch the session's actions again and list them in the picker."""
        try:
            actions = self.session.list_actions()
            chosen = actions.find(select).id if select else None
        except ZapierError as exc:
            self._say(exc.message, error=True)
            return
        self.picker.options = [(f"{a.description} ({a.id})", a.id) for a in actions]
        if chosen is None and actions:
            chosen = actions[0].id
        if chosen is not None:
            self.picker.value = chosen
        count = len(actions)
        self._say(f"{count} action{'s' if count != 1 else ''}. Write instructions, then Preview.")

    def wait(self, timeout: float | None = None) -> ActionResult | None:
        """Block until the run in flight (if any) ends; returns the latest result."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self.result

    def _start(self, *, preview: bool) -> None:
        with self._lock:
            if self.busy:
                self.refused_clicks += 1
                self._say("A run is already in progress; wait for its result.")
                return
            action_id, instructions = self.picker.value, self.instructions.value
            if not action_id:
                self._say("Pick an action first.", error=True)
                return
            if not instructions.strip():
                self._say("Write the instructions first.", error=True)
                return
            self._set_buttons(enabled=False)
            self._say("Previewing&hellip;" if preview else "Running&hellip;", escape=False)
            self._worker = threading.Thread(
                target=self._run,
                args=(action_id, instructions, preview),
                name="zapier-nb-action-runner",
                daemon=True,
            )
            self._worker.start()

    def _run(self, action_id: str, instructions: str, preview: bool) -> None:
        try:
            result = self.session.run_action(action_id, instructions, preview=preview)
        except ZapierError as exc:
            self._say(exc.message, error=True)
        except Exception as exc:  # a worker thread must always give the buttons back
            logger.exception("the AI Actions runner failed")
            self._say(f"Unexpected {type(exc).__name__}; see the kernel log.", error=True)
        else:
            self.result = result
            self.output.value = result._repr_html_()
            done = {"preview": "Previewed: nothing was run.", "error": "The action failed."}
            self._say(done.get(result.status, f"Done: {result.status}."))
        finally:
            self._set_buttons(enabled=True)

    def _set_buttons(self, *, enabled: bool) -> None:
        for button in (self.preview_button, self.run_button, self.reload_button):
            button.disabled = not enabled

    def _say(self, text: str, *, error: bool = False, escape: bool = True) -> None:
        color = "#b00020" if error else "inherit"
        shown = html.escape(text) if escape else text
        self.status.value = f'<span style="color:{color}">{shown}</span>'
