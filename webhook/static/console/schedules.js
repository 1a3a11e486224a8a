// Schedules: who is on call now and next, the next weeks' shifts, overrides, swaps (with consent).

import {api, session} from "./api.js";
import {$, actionButton, h, localToIso, say} from "./dom.js";
import {t, when} from "./i18n.js";

const SHOWN_SHIFTS = 14;

function who(shift) {
  return shift ? t("schedules.shift", {user: shift.user, start: when(shift.start), end: when(shift.end)}) : "—";
}

function changeLine(c) {
  if (c.kind === "override") {
    return t("schedules.override_line", {user: c.user, start: when(c.start), end: when(c.end)});
  }
  return t("schedules.swap_line", {a: c.mine.user, b: c.theirs.user, state: t(`swap.${c.state}`)});
}

function card(s) {
  const shifts = s.shifts.slice(0, SHOWN_SHIFTS);
  const changes = [...s.overrides, ...s.swaps];
  return h("section", {class: "card", "data-schedule": s.name, "aria-label": s.name},
    h("h2", {text: `${s.name} (${s.timezone})`}),
    h("dl", {class: "oncall"},
      h("dt", {text: t("schedules.now")}), h("dd", {class: "now", text: who(s.now)}),
      h("dt", {text: t("schedules.next")}), h("dd", {class: "next", text: who(s.next)})),
    h("details", {},
      h("summary", {text: t("schedules.rotation")}),
      h("ul", {class: "shifts"}, shifts.map((x) => h("li", {},
        h("span", {text: x.user}), h("span", {class: "muted", text: `${when(x.start)} – ${when(x.end)}`}))))),
    changes.length ? h("ul", {class: "plain changes"}, changes.map((c) => h("li", {class: "muted", text: changeLine(c)})))
      : null);
}

function swapItem(s) {
  const decide = (action, message) => async () => {
    await api("POST", `/api/v1/schedules/swaps/${encodeURIComponent(s.id)}/${action}`, {});
    await show();
    return t(message, {id: s.id});
  };
  return h("li", {},
    h("div", {text: t("schedules.swap_ask", {who: s.mine.user, mine: when(s.mine.at), theirs: when(s.theirs.at),
                                             schedule: s.schedule || ""})}),
    h("div", {class: "actions"},
      actionButton(t("schedules.accept"), decide("accept", "msg.swap_accepted"), "primary small"),
      actionButton(t("schedules.decline"), decide("decline", "msg.swap_declined"), "small")));
}

function fillSelect(select, names) {
  const keep = select.value;
  select.replaceChildren(...names.map((n) => h("option", {value: n, text: n})));
  if (names.includes(keep)) select.value = keep;
}

export async function show() {
  try {
    const {schedules} = await api("GET", "/api/v1/schedules");
    $("schedules").replaceChildren(...schedules.map(card));
    $("schedules-empty").hidden = schedules.length > 0;
    const names = schedules.map((s) => s.name);
    fillSelect($("o-schedule"), names);
    fillSelect($("s-schedule"), names);
    $("override-form").hidden = names.length === 0;
    $("swap-form").hidden = names.length === 0;
    const {swaps} = await api("GET", "/api/v1/schedules/swaps?mine=true");
    $("swaps").replaceChildren(...swaps.map(swapItem));
    $("swaps-box").hidden = swaps.length === 0;
  } catch (err) {
    say(t("msg.failed", {error: err.message}));
  }
}

function onSubmit(form, build, message) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const [path, body] = build();
      await api("POST", path, body);
      say(t(message));
      form.reset();
      await show();
    } catch (err) {
      say(t("msg.failed", {error: err.message}));
    } finally {
      submit.disabled = false;
    }
  });
}

export function setup() {
  onSubmit($("override-form"), () => [
    `/api/v1/schedules/${encodeURIComponent($("o-schedule").value)}/overrides`,
    {user: $("o-user").value.trim(), start: localToIso($("o-start").value), end: localToIso($("o-end").value),
     comment: $("o-comment").value.trim()}], "msg.override_created");
  onSubmit($("swap-form"), () => [
    `/api/v1/schedules/${encodeURIComponent($("s-schedule").value)}/swaps`,
    {layer: $("s-layer").value.trim(), mine: {at: localToIso($("s-mine").value)},
     theirs: {user: $("s-user").value.trim(), at: localToIso($("s-theirs").value)}}], "msg.swap_proposed");
}

export function prefill() {
  if (session.person && !$("o-user").value) $("o-user").value = session.person.name;
}
