// Maintenance windows: current and upcoming ones, create one (once or weekly), end one now.

import {api, can} from "./api.js";
import {$, actionButton, confirmAction, h, localToIso, say} from "./dom.js";
import {t, when} from "./i18n.js";

function mirror(w) {
  const m = w.mirror;
  if (!m || !m.state) return null;
  const text = t("windows.mirror", {state: t(`mirror.${m.state}`)}) + (m.error ? ` (${m.error})` : "");
  return h("span", {class: "muted", text});
}

function item(w) {
  const status = w.ended_at ? t("windows.ended", {who: w.ended_by || "", when: when(w.ended_at)})
    : w.active ? t("windows.active_until", {when: when(w.active_until)}) : t("windows.upcoming");
  const end = async () => {
    if (!(await confirmAction(t("confirm.end_window", {id: w.id})))) return "";
    const out = await api("POST", `/api/v1/windows/${encodeURIComponent(w.id)}/end`, {});
    await show();
    return t("msg.window_ended", {id: w.id, n: (out.released_incidents || []).length});
  };
  return h("li", {"data-window": w.id},
    h("div", {class: "head"}, h("strong", {text: `#${w.id} ${w.recurrence ? w.schedule
      : `${when(w.starts_at)} – ${when(w.ends_at)}`}`})),
    h("div", {class: "kvline"}, h("code", {text: w.matchers.join(", ")})),
    h("div", {class: "meta muted", text: [status, t("windows.by", {who: w.created_by}), w.comment].filter(Boolean).join(" · ")}),
    mirror(w),
    w.ended_at || !can("windows") ? null
      : h("div", {class: "actions"}, actionButton(t("windows.end_now"), end, "small")));
}

export async function show() {
  $("window-form").hidden = !can("windows");
  $("windows-role").hidden = can("windows");
  try {
    const {windows} = await api("GET", "/api/v1/windows");
    $("windows").replaceChildren(...windows.map(item));
    $("windows-empty").hidden = windows.length > 0;
  } catch (err) {
    say(t("msg.failed", {error: err.message}));
  }
}

function body() {
  const form = $("window-form");
  const matchers = $("w-matchers").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const out = {matchers, comment: $("w-comment").value.trim()};
  if (form.querySelector("input[name=w-kind]:checked").value === "recurring") {
    const days = [...form.querySelectorAll("input[name=w-day]:checked")].map((c) => c.value);
    out.recurrence = {days: days.length ? days : ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                      from: $("w-from").value, to: $("w-to").value, timezone: $("w-tz").value.trim() || "UTC"};
    return out;
  }
  const start = localToIso($("w-start").value);
  const end = localToIso($("w-end").value);
  const duration = $("w-duration").value.trim();
  if (start) out.starts_at = start;
  if (end) out.ends_at = end;
  else if (duration) out.duration = duration;
  return out;
}

export function setup() {
  const form = $("window-form");
  $("w-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  for (const radio of form.querySelectorAll("input[name=w-kind]")) {
    radio.addEventListener("change", () => {
      const recurring = form.querySelector("input[name=w-kind]:checked").value === "recurring";
      $("w-once").hidden = recurring;
      $("w-recurring").hidden = !recurring;
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const w = await api("POST", "/api/v1/windows", body());
      say(t("msg.window_created", {id: w.id}));
      form.reset();
      $("w-once").hidden = false;
      $("w-recurring").hidden = true;
      $("w-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
      await show();
    } catch (err) {
      say(t("msg.failed", {error: err.message}));
    } finally {
      submit.disabled = false;
    }
  });
}
