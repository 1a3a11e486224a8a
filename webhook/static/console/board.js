// The board: open incidents sorted by urgency, live from the change stream, with one-tap actions; runs waiting
// for approval on top; "was it actionable?" for recently resolved incidents; the alert-quality report link.

import * as act from "./actions.js";
import {api, can} from "./api.js";
import {$, actionButton, h, say} from "./dom.js";
import {ago, lang, t} from "./i18n.js";
import {heldBy} from "./matchers.js";

const STATE_RANK = {triggered: 0, acknowledged: 1, snoozed: 2, resolved: 3};
const SEVERITY_RANK = {critical: 0, high: 1, medium: 2, low: 3};
const OPEN = ["triggered", "acknowledged", "snoozed"];
const incidents = new Map();
const expanded = new Set();
const cards = new Map();  // incident id -> {key: what it shows, el: its card}
let windows = [];
let loaded = false;

export function urgency(a, b) {
  return (STATE_RANK[a.state] ?? 9) - (STATE_RANK[b.state] ?? 9)
    || (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9)
    || String(a.opened_at).localeCompare(String(b.opened_at))
    || a.id - b.id;
}

function filters() {
  const form = $("filters");
  return {q: form.q.value.trim(), state: form.state.value, severity: form.severity.value,
          team: form.team.value.trim(), label: form.label.value.trim()};
}

function query(f) {
  const p = new URLSearchParams();
  for (const s of f.state === "open" ? OPEN : [f.state]) p.append("state", s);
  if (f.severity) p.append("severity", f.severity);
  if (f.team) p.append("team", f.team);
  if (f.label) p.append("label", f.label);
  if (f.q) p.append("q", f.q);
  p.append("sort", "urgency");
  p.append("limit", "100");
  return p.toString();
}

/** Whether a streamed incident belongs on the list under the current filters (the server filtered the rest). */
function matches(inc, f) {
  const states = f.state === "open" ? OPEN : [f.state];
  if (!states.includes(inc.state)) return false;
  if (f.severity && inc.severity !== f.severity) return false;
  const labels = inc.labels || {};
  if (f.team && labels.team !== f.team && inc.team !== f.team) return false;
  if (f.label) {
    const [name, ...rest] = f.label.split("=");
    if ((labels[name] || "") !== rest.join("=")) return false;
  }
  if (f.q) {
    const hay = [inc.title, ...Object.values(labels), ...Object.values(inc.annotations || {})].join("\n");
    if (!hay.toLowerCase().includes(f.q.toLowerCase())) return false;
  }
  return true;
}

function done(message) {
  say(message);
  reload();
}

function card(inc) {
  const held = heldBy(windows, inc.labels || {});
  const more = h("div", {class: "more", id: `more-${inc.id}`, hidden: !expanded.has(inc.id)});
  if (expanded.has(inc.id)) more.append(...act.morePanel(inc, done));
  const toggle = h("button", {type: "button", class: "small", "aria-expanded": String(expanded.has(inc.id)),
                              "aria-controls": more.id, text: t("action.more")});
  toggle.addEventListener("click", () => {
    const open = !expanded.has(inc.id);
    if (open) expanded.add(inc.id); else expanded.delete(inc.id);
    toggle.setAttribute("aria-expanded", String(open));
    more.replaceChildren(...(open ? act.morePanel(inc, done) : []));
    more.hidden = !open;
  });
  const wrap = (fn) => async () => {
    const message = await fn(inc);
    if (message) done(message);
    return "";
  };
  const buttons = [];
  if (inc.state === "triggered" || inc.state === "snoozed") {
    buttons.push(actionButton(t("action.ack"), wrap(act.ack), "primary"));
  }
  if (inc.state !== "resolved") buttons.push(actionButton(t("action.resolve"), wrap(act.resolve)));
  buttons.push(toggle);
  const meta = [t(`state.${inc.state}`), ago(inc.opened_at)];
  if (inc.acked_by) meta.push(t("board.acked_by", {who: inc.acked_by}));
  return h("li", {class: "incident", "data-incident": inc.id},
    h("div", {class: "head"},
      h("span", {class: `sev ${inc.severity}`, text: t(`severity.${inc.severity}`)}),
      h("a", {class: "title", href: `#/incidents/${inc.id}`, text: `T-${inc.id} ${inc.title}`})),
    h("div", {class: "meta"}, meta.join(" · "), " ",
      held ? h("span", {class: "held", text: t("board.held", {id: held.id})}) : null),
    h("div", {class: "actions"}, buttons),
    more);
}

/** Swap `old` for `fresh` keeping what the person was doing: the focused control and typed text. */
function swap(old, fresh) {
  const focused = old.contains(document.activeElement) ? document.activeElement : null;
  const path = (el) => [...old.querySelectorAll("button, input")].indexOf(el);
  const typed = [...old.querySelectorAll("input")].map((i) => i.value);
  old.replaceWith(fresh);
  const inputs = [...fresh.querySelectorAll("input")];
  if (inputs.length === typed.length) inputs.forEach((input, i) => { input.value = typed[i]; });
  if (focused) {
    const again = [...fresh.querySelectorAll("button, input")][path(focused)];
    if (again) again.focus();
  }
}

/** Only cards whose incident changed are rebuilt, and moved only when the order changed: a stream of changes
 * does not take the focus (or a half-typed note) away from the card in hand. */
function render() {
  const f = filters();
  const items = [...incidents.values()].filter((inc) => matches(inc, f)).sort(urgency);
  const list = $("incidents");
  const wanted = new Set(items.map((inc) => inc.id));
  for (const [id, c] of cards) {
    if (!wanted.has(id)) {
      c.el.remove();
      cards.delete(id);
    }
  }
  items.forEach((inc, index) => {
    const held = heldBy(windows, inc.labels || {});
    const key = JSON.stringify([lang(), inc, held ? held.id : null]);
    let c = cards.get(inc.id);
    if (!c || c.key !== key) {
      const el = card(inc);
      if (c) swap(c.el, el);
      c = {key, el};
      cards.set(inc.id, c);
    }
    if (list.children[index] !== c.el) list.insertBefore(c.el, list.children[index] || null);
  });
  $("incidents-empty").hidden = items.length > 0;
}

async function loadRuns() {
  const box = $("runs-box");
  try {
    const {runs} = await api("GET", "/api/v1/runs?status=awaiting_approval");
    const decide = (run, verb, message) => async (event) => {
      await api("POST", `/api/v1/runs/${encodeURIComponent(run.id)}/${verb}`, {});
      event.target.closest("li").remove();  // decided (202): the run resumes or aborts in the background
      box.hidden = $("runs").children.length === 0;
      return t(message, {id: run.id});
    };
    $("runs").replaceChildren(...runs.map((run) => h("li", {"data-run": run.id},
      h("div", {}, h("strong", {text: run.runbook_id}), " ",
        h("span", {class: "muted", text: t("runs.for", {id: run.incident_id, reason: run.reason || ""})})),
      can("approve") ? h("div", {class: "actions"},
        actionButton(t("runs.approve"), decide(run, "approve", "msg.approved"), "primary"),
        actionButton(t("runs.reject"), decide(run, "reject", "msg.rejected")))
        : h("p", {class: "muted", text: t("runs.no_role")}))));
    box.hidden = runs.length === 0;
  } catch {
    box.hidden = true;  // remediation is off on this server, or this person may not see runs
  }
}

async function loadResolved() {
  const {incidents: items} = await api("GET", "/api/v1/incidents?state=resolved&limit=10");
  const answer = (inc, yes) => async () => {
    await api("POST", `/api/v1/incidents/${encodeURIComponent(inc.id)}/feedback`,
              {actionable: yes, channel: "console"});
    return t(yes ? "msg.actionable" : "msg.not_actionable", {id: inc.id});
  };
  $("resolved").replaceChildren(...items.map((inc) => h("li", {},
    h("div", {class: "head"}, h("span", {class: `sev ${inc.severity}`, text: t(`severity.${inc.severity}`)}), " ",
      h("a", {href: `#/incidents/${inc.id}`, text: `T-${inc.id} ${inc.title}`})),
    h("div", {class: "actions"}, actionButton(t("feedback.yes"), answer(inc, true), "small"),
      actionButton(t("feedback.no"), answer(inc, false), "small")))));
  $("resolved-empty").hidden = items.length > 0;
}

function reportLink() {
  const since = $("report-since").value;
  const link = $("report-link");
  link.href = `/api/v1/report?format=html&since=${encodeURIComponent(since)}`;
}

export async function reload() {
  try {
    const [{incidents: items}, active] = await Promise.all([
      api("GET", `/api/v1/incidents?${query(filters())}`),
      api("GET", "/api/v1/windows?active=true").catch(() => ({windows: []}))]);
    windows = active.windows;
    incidents.clear();
    for (const inc of items) incidents.set(inc.id, inc);
    loaded = true;
    render();
    await Promise.all([loadRuns(), loadResolved()]);
  } catch (err) {
    // 401: the session ended (signed out while this load was in flight); the app shows the sign-in view
    if (err.status !== 401) say(t("msg.failed", {error: err.message}));
  }
}

/** An incident from the change stream: upsert it and re-sort. */
export function upsert(inc) {
  if (!loaded) return;
  incidents.set(inc.id, inc);
  render();
  if (inc.state === "resolved") loadResolved().catch(() => {});
}

export function setup() {
  let timer = 0;
  $("filters").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(reload, 250);  // typing in the search box: one request once typing pauses
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  $("report-since").addEventListener("change", reportLink);
}

export function show() {
  return reload();
}
