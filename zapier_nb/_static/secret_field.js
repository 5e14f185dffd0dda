// The secret field: what is typed reaches the kernel once, in a message, never in a synced
// trait; the input is cleared in the same moment (see zapier_nb/_secret_field.py).
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
