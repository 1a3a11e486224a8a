// Small DOM helpers. Text from the API goes in with textContent only, never parsed as markup: labels come from alerts.

export const $ = (id) => document.getElementById(id);

/** An element: props.text sets textContent, props.class the class, on<event> a listener, others attributes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else if (key === "class") el.className = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

/** The URL if it is an absolute http(s) URL, else null: alert annotations must not become javascript: links. */
export function safeUrl(value) {
  if (typeof value !== "string") return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** An external link opened in a new tab without handing it this window. */
export function extLink(url, label) {
  const href = safeUrl(url);
  if (!href) return h("span", {text: label});
  return h("a", {href, target: "_blank", rel: "noopener noreferrer", text: label});
}

/** The live region at the bottom: what just happened, read out by screen readers. */
export function say(text) {
  $("status").textContent = text;
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
    dialog.returnValue = "";
    dialog.showModal();
    $("confirm-ok").focus();
  });
}

/** A button that runs `action`, disabled while it runs; the action's message (or error) goes to the status. */
export function actionButton(label, action, cls = "") {
  const button = h("button", {type: "button", class: cls, text: label});
  button.addEventListener("click", async (event) => {
    button.disabled = true;
    try {
      const message = await action(event);
      if (message) say(message);
    } catch (err) {
      say(err.message);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/** A datetime-local input's value (browser time zone) as an ISO instant, or null when empty. */
export function localToIso(value) {
  return value ? new Date(value).toISOString() : null;
}
