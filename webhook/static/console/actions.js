// The one-tap incident actions, shared by the board cards and the incident page.

import {api} from "./api.js";
import {actionButton, confirmAction, h} from "./dom.js";
import {t} from "./i18n.js";

const path = (inc, what) => `/api/v1/incidents/${encodeURIComponent(inc.id)}/${what}`;

export async function ack(inc) {
  await api("POST", path(inc, "ack"), {});
  return t("msg.acked", {id: inc.id});
}

export async function resolve(inc) {
  if (!(await confirmAction(t("confirm.resolve", {id: inc.id, title: inc.title})))) return "";
  await api("POST", path(inc, "resolve"), {});
  return t("msg.resolved", {id: inc.id});
}

export async function snooze(inc, duration) {
  await api("POST", path(inc, "snooze"), {duration});
  return t("msg.snoozed", {id: inc.id, duration});
}

export async function note(inc, text) {
  await api("POST", path(inc, "notes"), {text});
  return t("msg.noted", {id: inc.id});
}

export async function escalate(inc) {
  if (!(await confirmAction(t("confirm.escalate", {id: inc.id})))) return "";
  await api("POST", path(inc, "escalate"), {});
  return t("msg.escalated", {id: inc.id});
}

export async function reassign(inc, to) {
  if (!(await confirmAction(t("confirm.reassign", {id: inc.id, to})))) return "";
  await api("POST", path(inc, "reassign"), {to});
  return t("msg.reassigned", {id: inc.id, to});
}

export async function ackAndSilence(inc) {
  if (!(await confirmAction(t("confirm.silence", {id: inc.id})))) return "";
  await api("POST", path(inc, "ack-and-silence"), {duration: "2h"});
  return t("msg.silenced", {id: inc.id});
}

let formSeq = 0;

/** A one-field form (label, input, button); `run(value)` returns the status message. */
export function miniForm(label, button, run, {maxlength = 2000, after = () => {}} = {}) {
  const id = `mini-${++formSeq}`;
  const input = h("input", {id, required: true, maxlength, autocomplete: "off"});
  const submit = h("button", {type: "submit", class: "small", text: button});
  const form = h("form", {class: "stack"}, h("label", {for: id, text: label}), input, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const message = await run(input.value.trim());
      if (message) {
        input.value = "";
        after(message);
      }
    } catch (err) {
      after(err.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** The buttons of the "more" panel: snooze, note, escalate, reassign. `done(message)` reports and refreshes. */
export function morePanel(inc, done) {
  const wrap = (fn) => async () => {
    const message = await fn();
    if (message) done(message);
    return "";
  };
  const snoozes = ["30m", "2h", "8h"].map((d) => actionButton(t("action.snooze_for", {duration: d}),
                                                              wrap(() => snooze(inc, d)), "small"));
  return [
    h("div", {class: "actions", role: "group", "aria-label": t("action.snooze")}, snoozes),
    miniForm(t("action.note_label"), t("action.note_add"), (text) => note(inc, text), {after: done}),
    h("div", {class: "actions"}, actionButton(t("action.escalate"), wrap(() => escalate(inc)), "small")),
    miniForm(t("action.reassign_label"), t("action.reassign"), (to) => reassign(inc, to),
             {maxlength: 200, after: done}),
  ];
}
