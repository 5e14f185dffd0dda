"""The "Log in with Zapier" button, and the automatic return of the login's answer.

The button opens the consent page with `window.open` (so the page it leads to can
answer its opener), and shows a plain link where popups are refused. It listens for the
callback page's message on a `BroadcastChannel` and from `window.opener`, checks the
message's type, its origin and the pending `state`, and sends the answer to the kernel
with `model.send`, never in a synced trait; the two channels' copies count once. On
render it reports where it runs, so the kernel can say how the code will come back and,
against a sandbox on this server's loopback, open the sandbox's pages through the
server. A loopback redirect URI is answered by a listener in the kernel instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ._callback import CallbackAnswer, complete_from_callback
from ._callback_page import ACK_TYPE, CALLBACK_TYPE, CHANNEL
from ._errors import ZapierError
from ._loopback import close_listener, is_loopback_redirect, listener_for, registered_redirect
from ._redirect import Capture, Environment, capture_for, remember_environment

if TYPE_CHECKING:
    from ._models import TokenInfo
    from ._session import Session

__all__ = ["LoginButton"]

_ESM = """
const CALLBACK = "__CALLBACK__";
const ACK = "__ACK__";
const CHANNEL = "__CHANNEL__";

function pageConfig() {
  const element = document.getElementById("jupyter-config-data");
  if (!element) { return {}; }
  try { return JSON.parse(element.textContent || "{}"); } catch (error) { return {}; }
}

async function ping(baseUrl) {
  try {
    // no-cors keeps this a simple same-origin GET, which JupyterHub accepts by cookie.
    const answer = await fetch(baseUrl + "zapier-nb/ping",
      { mode: "no-cors", credentials: "same-origin", cache: "no-store" });
    if (answer.ok && answer.type === "basic") { return await answer.json(); }
  } catch (error) { /* no extension, or no server at all */ }
  return null;
}

async function report(model) {
  const config = pageConfig();
  const baseUrl = typeof config.baseUrl === "string" ? config.baseUrl : "/";
  const text = (value) => (typeof value === "string" && value ? value : null);
  model.send({
    event: "environment",
    origin: window.location.origin,
    base_url: baseUrl,
    hub_prefix: text(config.hubPrefix),
    hub_user: text(config.hubUser),
    hub_host: text(config.hubHost),
    hub_server_name: text(config.hubServerName),
    extension: window.location.protocol.startsWith("http") ? await ping(baseUrl) : null,
    vscode: typeof window.acquireVsCodeApi === "function"
      || window.location.protocol === "vscode-webview:",
    colab: !!(window.google && window.google.colab),
  });
}

// One record per page of the answers already handled, whatever the number of views.
const handled = (window.__zapierNbHandled = window.__zapierNbHandled || new Set());

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "zapier-nb-login-box";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "zapier-nb-login-button";
  button.dataset.testid = "zapier-nb-login";
  const how = document.createElement("div");
  how.className = "zapier-nb-login-how";
  how.dataset.testid = "zapier-nb-return";
  const fallback = document.createElement("div");
  fallback.className = "zapier-nb-login-fallback";
  fallback.hidden = true;
  const link = document.createElement("a");
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "Open the Zapier consent page";
  fallback.append("This window could not open a new one: ", link);
  const sync = () => {
    button.textContent = model.get("label");
    button.disabled = model.get("disabled") || !model.get("url");
    button.classList.toggle("zapier-nb-secondary", !model.get("primary"));
    how.innerHTML = model.get("how");
    link.href = model.get("url");
  };
  sync();
  model.on("change", sync);

  button.addEventListener("click", () => {
    const url = model.get("url");
    if (!url) { return; }
    let opened = null;
    try { opened = window.open(url, "zapier_nb_login"); } catch (error) { opened = null; }
    fallback.hidden = !!opened;
  });

  const pendingState = () => {
    try { return new URL(model.get("url"), window.location.href).searchParams.get("state"); }
    catch (error) { return null; }
  };
  const channel = ("BroadcastChannel" in window) ? new BroadcastChannel(CHANNEL) : null;
  const receive = (data, origin, source) => {
    if (!data || typeof data !== "object" || data.type !== CALLBACK) { return; }
    if (origin !== window.location.origin) {
      const from = String(origin).slice(0, 200);
      model.send({ event: "oauth-refused", reason: "origin", origin: from });
      return;
    }
    const state = typeof data.state === "string" ? data.state : "";
    const expected = pendingState();
    if (!expected || state !== expected) {
      if (!handled.has("refused:" + state)) {
        handled.add("refused:" + state);
        model.send({ event: "oauth-refused", reason: "state" });
      }
      return;
    }
    if (handled.has(state)) { return; }
    handled.add(state);
    const ack = { type: ACK, state };
    if (channel) { channel.postMessage(ack); }
    if (source && typeof source.postMessage === "function") {
      try { source.postMessage(ack, window.location.origin); } catch (error) { /* closed */ }
    }
    const text = (value) => (typeof value === "string" ? value : null);
    model.send({
      event: "oauth-callback",
      state,
      code: text(data.code),
      error: text(data.error),
      error_description: text(data.error_description),
    });
  };
  const onMessage = (event) => receive(event.data, event.origin, event.source);
  window.addEventListener("message", onMessage);
  if (channel) {
    channel.onmessage = (event) => receive(event.data, window.location.origin, null);
  }
  box.append(button, how, fallback);
  el.appendChild(box);
  report(model);
  return () => {
    model.off("change", sync);
    window.removeEventListener("message", onMessage);
    if (channel) { channel.close(); }
  };
}
export default { render };
"""
for _name, _value in (
    ("__CALLBACK__", CALLBACK_TYPE),
    ("__ACK__", ACK_TYPE),
    ("__CHANNEL__", CHANNEL),
):
    _ESM = _ESM.replace(_name, _value)

_CSS = """
.zapier-nb-login-button { display: inline-block; padding: 6px 14px; border-radius: 4px;
  background: #ff4f00; color: #fff; font-weight: 600; border: 0; cursor: pointer; }
.zapier-nb-login-button.zapier-nb-secondary { background: transparent; color: #c23a00;
  box-shadow: inset 0 0 0 2px #ff4f00; }
.zapier-nb-login-button:disabled { opacity: .5; cursor: default; }
.zapier-nb-login-how, .zapier-nb-login-fallback { font-size: 12px; margin-top: 4px; }
"""

Say = Callable[[str, bool], None]


class LoginButton(anywidget.AnyWidget):
    """Opens the consent page and receives the answer; `on_login()` runs after a login."""

    _esm = _ESM
    _css = _CSS
    url = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("Log in with Zapier").tag(sync=True)
    how = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    primary = traitlets.Bool(True).tag(sync=True)

    def __init__(self, session: Session, *, say: Say, on_login: Callable[[], None]) -> None:
        super().__init__()
        self.session = session
        self.environment: Environment | None = None
        self.capture: Capture | None = None
        self._say = say
        self._on_login = on_login
        self.on_msg(self._handle_message)

    # -- the login to offer --------------------------------------------------------------

    def prepare(self) -> None:
        """Offer the login in progress (or a new one), opened the way the answer can return."""
        registered = registered_redirect(self.session)
        if is_loopback_redirect(registered):
            assert registered is not None
            listener_for(self.session, registered, on_done=self._listener_done)
        elif self.session.pending_login_url is None:
            self.session.begin_login()
        self.show_pending()

    def forget(self) -> None:
        """Stop offering a login (after a logout, or once logged in)."""
        close_listener(self.session)
        self.url = ""

    def show_pending(self, *, primary: bool | None = None) -> None:
        """Offer the login in progress, opened the way its answer can come back."""
        if primary is not None:
            self.primary = primary
        consent = self.session.pending_login_url or ""
        self.capture = capture_for(
            registered_redirect(self.session), self.session.base_url, self.environment
        )
        self.url = self.capture.browser_url(consent, self.session.base_url)
        self.how = self.capture.line

    # -- messages from the page ----------------------------------------------------------

    def _handle_message(self, _widget: object, content: Any, _buffers: object) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "environment":
            self.environment = Environment.from_report(content)
            remember_environment(self.environment)
            if self.url:
                self.show_pending()
        elif event == "oauth-refused":
            self._refused(content)
        elif event == "oauth-callback":
            self._callback(content)

    def _refused(self, content: dict[str, Any]) -> None:
        if content.get("reason") == "origin":
            origin = html.escape(str(content.get("origin", "another site"))[:200])
            self._say(f"&#9888; A login answer from another site ({origin}) was ignored.", True)
        else:
            self._say(
                "&#9888; An answer came back for another login (its state does not match the "
                "one in progress) and was ignored. Use the newest Log in with Zapier button.",
                True,
            )

    def _callback(self, content: dict[str, Any]) -> None:
        def text(name: str) -> str | None:
            value = content.get(name)
            return value if isinstance(value, str) and value else None

        answer = CallbackAnswer(
            state=text("state") or "",
            code=text("code"),
            error=text("error"),
            error_description=text("error_description"),
        )
        self._say("Exchanging the code for a token&hellip;", False)
        try:
            complete_from_callback(self.session, answer)
        except ZapierError as exc:
            self._say(f"&#9888; {html.escape(exc.message)}", True)
            return
        self._logged_in()

    def _listener_done(self, outcome: TokenInfo | ZapierError) -> None:
        if isinstance(outcome, ZapierError):
            if self.session.auth_method is None:
                self.prepare()  # a fresh login (on this thread), so the button works again
            self._say(f"&#9888; {html.escape(outcome.message)}", True)
            return
        self._logged_in()

    def _logged_in(self) -> None:
        self.forget()
        self._on_login()
