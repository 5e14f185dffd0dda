// The "Log in with Zapier" button, and the browser's half of the automatic return.
//
// The button opens the consent page with window.open, so the callback page can answer
// its opener; where popups are refused it shows a plain link. The callback page posts
// the answer on a BroadcastChannel and to window.opener. An answer whose state is one
// this widget offered goes to the kernel with model.send (never in a synced trait); the
// kernel decides what it means. Answers for other widgets' logins are left alone.

// Shared with the callback page (zapier_nb/_callback_page.py).
const CALLBACK = "zapier-nb:oauth-callback";
const ACK = "zapier-nb:oauth-ack";
const CHANNEL = "zapier-nb-oauth";

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

// Answers already handed to a kernel on this page, so that the two channels' copies of
// one answer count once. An entry goes when the kernel moves its widget to a new login.
const delivered = (window.__zapierNbDelivered = window.__zapierNbDelivered || new Map());

function forget(state) {
  for (const [key, owner] of delivered) {
    if (owner === state) { delivered.delete(key); }
  }
}

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

  // Every state this widget has offered: the kernel names an answer for an ended one.
  const offered = new Set();
  let shownState = model.get("state");
  if (shownState) { offered.add(shownState); }
  const sync = () => {
    const state = model.get("state");
    if (state !== shownState) {
      if (shownState) { forget(shownState); }
      shownState = state;
      if (state) { offered.add(state); }
    }
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
    model.send({ event: "opened" });
  });

  const channel = ("BroadcastChannel" in window) ? new BroadcastChannel(CHANNEL) : null;
  const receive = (data, origin, source) => {
    if (!data || typeof data !== "object" || data.type !== CALLBACK) { return; }
    if (origin !== window.location.origin) {
      model.send({ event: "oauth-refused", origin: String(origin).slice(0, 200) });
      return;
    }
    const state = typeof data.state === "string" ? data.state : "";
    if (!state || !offered.has(state)) { return; }
    const text = (value) => (typeof value === "string" ? value : null);
    const key = [state, text(data.code), text(data.error)].join("\n");
    const ack = { type: ACK, state };
    if (channel) { channel.postMessage(ack); }
    if (source && typeof source.postMessage === "function") {
      try { source.postMessage(ack, window.location.origin); } catch (error) { /* closed */ }
    }
    if (delivered.has(key)) { return; }
    delivered.set(key, state);
    model.send({
      event: "oauth-callback",
      state,
      code: text(data.code),
      error: text(data.error),
      error_description: text(data.error_description),
      iss: text(data.iss),
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
