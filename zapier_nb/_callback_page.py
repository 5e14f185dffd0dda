"""The page behind `{base_url}zapier-nb/callback`: it hands the login answer to the widget.

The page reads `code`, `state` and `error` from its address, removes them from the
address bar, and posts them, on the same origin only, to the widget that started the
login: on a `BroadcastChannel` and to `window.opener` with its own origin as the target.
When a widget acknowledges, the page forgets the code and says to go back to the
notebook; when none does within a few seconds, it shows the answer with a Copy button.
Its one inline script is allowed by hash in the Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib

__all__ = [
    "ACK_TYPE",
    "CALLBACK_TYPE",
    "CHANNEL",
    "CONTENT_SECURITY_POLICY",
    "PAGE",
    "PAGE_HEADERS",
]

CHANNEL = "zapier-nb-oauth"
CALLBACK_TYPE = "zapier-nb:oauth-callback"
ACK_TYPE = "zapier-nb:oauth-ack"
ACK_WAIT_MS = 3000

_SCRIPT = """
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var message = {
    type: "__CALLBACK__",
    code: params.get("code"),
    state: params.get("state"),
    error: params.get("error"),
    error_description: params.get("error_description")
  };
  window.history.replaceState(null, "", window.location.pathname);
  var title = document.getElementById("title");
  var text = document.getElementById("message");
  var fallback = document.getElementById("fallback");
  var answerField = document.getElementById("answer");
  var copy = document.getElementById("copy");
  function say(heading, words) { title.textContent = heading; text.textContent = words; }
  if (!message.state || (!message.code && !message.error)) {
    say("Nothing to hand over",
        "This page receives the answer of the Zapier consent screen; this address has none.");
    return;
  }
  var acknowledged = false;
  var channel = ("BroadcastChannel" in window) ? new BroadcastChannel("__CHANNEL__") : null;
  function onAck(data) {
    if (acknowledged || !data || data.type !== "__ACK__" || data.state !== message.state) {
      return;
    }
    acknowledged = true;
    message.code = null;
    if (channel) { channel.close(); }
    say("Back to your notebook",
        "The login answer was handed to your notebook; this tab can be closed.");
  }
  if (channel) {
    channel.onmessage = function (event) { onAck(event.data); };
    channel.postMessage(message);
  }
  window.addEventListener("message", function (event) {
    if (event.origin === window.location.origin) { onAck(event.data); }
  });
  if (window.opener) {
    try { window.opener.postMessage(message, window.location.origin); } catch (e) { }
  }
  window.setTimeout(function () {
    if (acknowledged) { return; }
    if (message.error) {
      say("The login did not finish",
          "The consent screen answered '" + message.error + "'. Start the login again from " +
          "your notebook.");
      return;
    }
    say("Copy this answer",
        "No open notebook took the answer. Copy it and paste it into the login widget's " +
        "field (the one that says Paste the code), then press Log in.");
    answerField.value = "code=" + encodeURIComponent(message.code) +
      "&state=" + encodeURIComponent(message.state);
    fallback.hidden = false;
    copy.addEventListener("click", function () {
      answerField.select();
      var done = function () { copy.textContent = "Copied"; };
      if (navigator.clipboard) {
        navigator.clipboard.writeText(answerField.value).then(done, function () {
          document.execCommand("copy"); done();
        });
      } else { document.execCommand("copy"); done(); }
    });
  }, __WAIT__);
})();
"""
for _name, _value in (
    ("__CALLBACK__", CALLBACK_TYPE),
    ("__ACK__", ACK_TYPE),
    ("__CHANNEL__", CHANNEL),
    ("__WAIT__", str(ACK_WAIT_MS)),
):
    _SCRIPT = _SCRIPT.replace(_name, _value)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#201515}h1{font-size:1.4rem}"
    # Room below the baseline, so that the underscores of `sbx_code_...` show.
    "input{box-sizing:border-box;width:100%;font:1rem/1.6 monospace;padding:.35rem .5rem;"
    "height:auto}"
    "button{margin-top:.5rem;padding:.3rem 1rem}"
)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_sha256(_SCRIPT)}; style-src {_sha256(_STYLE)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="referrer" content="no-referrer">'
    f"<title>Zapier AI Actions login</title><style>{_STYLE}</style></head><body>"
    '<h1 id="title">Finishing the login&hellip;</h1>'
    '<p id="message" data-testid="zapier-nb-callback-message">Handing the answer to your '
    "notebook.</p>"
    '<div id="fallback" hidden><label>Answer to paste '
    '<input id="answer" readonly data-testid="zapier-nb-callback-answer"></label>'
    '<button id="copy" type="button">Copy</button></div>'
    "<noscript><p>This page needs JavaScript to hand the answer to your notebook. Copy the "
    "whole address from the address bar and paste it into the login widget.</p></noscript>"
    f"<script>{_SCRIPT}</script></body></html>"
)
