// One incident: actions, graph, links, labels, annotations and the whole timeline (alerts, pages and their
// delivery state, acks, runs with their steps, notes, window holds).

import * as act from "./actions.js";
import {api, blob} from "./api.js";
import {$, actionButton, extLink, h, safeUrl, say} from "./dom.js";
import {t, when} from "./i18n.js";

let currentId = null;
let graphUrl = null;

function kv(target, entries) {
  target.replaceChildren(...entries.flatMap(([k, v]) => [h("dt", {text: k}), h("dd", {text: String(v)})]));
  if (!entries.length) target.replaceChildren(h("dd", {class: "muted", text: t("incident.none")}));
}

/** Links from the server's `links` (list or mapping) and from the alerts' annotations and generator URLs. */
export function collectLinks(inc) {
  const out = [];
  const seen = new Set();
  const add = (kind, url) => {
    const href = safeUrl(url);
    if (href && !seen.has(href)) {
      seen.add(href);
      out.push({kind, url: href});
    }
  };
  const links = inc.links;
  if (Array.isArray(links)) for (const l of links) add(l.kind || l.name || l.label || "link", l.url || l.href);
  else if (links && typeof links === "object") {
    for (const [kind, value] of Object.entries(links)) {
      for (const url of Array.isArray(value) ? value : [value]) add(kind, url);
    }
  }
  const ann = inc.annotations || {};
  add("runbook", ann.runbook_url);
  add("dashboard", ann.dashboard_url || ann.dashboard || ann.grafana_url);
  for (const alert of inc.alerts || []) add("generator", alert.generator_url);
  return out;
}

function linkLabel(kind) {
  const key = `link.${kind.replace(/_url$/, "")}`;
  const label = t(key);
  return label === key ? kind : label;
}

function detailText(detail) {
  if (!detail || typeof detail !== "object") return detail ? String(detail) : "";
  const parts = [];
  for (const [key, value] of Object.entries(detail)) {
    if (value === null || value === "" || (typeof value === "object" && !Array.isArray(value))) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    parts.push(`${key}: ${Array.isArray(value) ? value.join(", ") : value}`);
  }
  return parts.join(" · ");
}

function eventLabel(kind) {
  const key = `ev.${kind}`;
  const label = t(key);
  return label === key ? kind.replaceAll("_", " ") : label;
}

/** Timeline entries, deliveries and runs merged in time order. */
export function entries(inc) {
  // A delivered attempt is already the "sent" state of its page below; failed and retried attempts stay.
  const pages = Array.isArray(inc.deliveries);
  const items = (inc.timeline || [])
    .filter((e) => !(pages && e.kind === "delivery" && e.detail && e.detail.outcome === "delivered"))
    .map((e) => ({at: e.at, what: eventLabel(e.kind), who: e.actor, detail: detailText(e.detail), kind: e.kind}));
  for (const d of inc.deliveries || []) {
    const state = t(`delivery.${d.state}`) === `delivery.${d.state}` ? d.state : t(`delivery.${d.state}`);
    items.push({at: d.finished_at || d.due_at, kind: "outbox", who: "tocsin",
                what: t("incident.delivery", {channel: d.channel || d.kind || "?", target: d.to || ""}),
                detail: [state, d.attempts > 1 ? t("incident.attempts", {n: d.attempts}) : "", d.error || ""]
                  .filter(Boolean).join(" · ")});
  }
  for (const run of inc.runs || []) {
    items.push({at: run.created_at || run.started_at, kind: "run", who: run.triggered_by || "tocsin",
                what: t("incident.run", {runbook: run.runbook_id || "?", status: run.status || ""}),
                detail: [run.outcome, run.reason].filter(Boolean).join(" · "),
                steps: (run.steps || []).map((s) => [`${(s.step_index ?? 0) + 1}. ${s.action || ""}`,
                                                     s.outcome || "", s.summary || ""].filter(Boolean).join(" · "))});
  }
  return items.sort((a, b) => String(a.at).localeCompare(String(b.at)));
}

function renderTimeline(inc) {
  $("inc-timeline").replaceChildren(...entries(inc).map((e) => h("li", {"data-kind": e.kind},
    h("div", {class: "when", text: `${when(e.at)} · ${e.who || ""}`}),
    h("div", {class: "what", text: e.what}),
    e.detail ? h("div", {class: "detail", text: e.detail}) : null,
    e.steps && e.steps.length ? h("ul", {}, e.steps.map((s) => h("li", {text: s}))) : null)));
}

async function renderGraph(inc) {
  const box = $("inc-graph");
  box.replaceChildren(h("p", {class: "muted", text: t("incident.graph_loading")}));
  try {
    const data = await blob(`/api/v1/incidents/${encodeURIComponent(inc.id)}/graph.png`);
    if (graphUrl) URL.revokeObjectURL(graphUrl);
    graphUrl = URL.createObjectURL(data);
    box.replaceChildren(h("div", {class: "graph"},
      h("img", {src: graphUrl, alt: t("incident.graph_alt", {id: inc.id, title: inc.title})})));
  } catch (err) {
    box.replaceChildren(h("p", {class: "muted", text: t("incident.no_graph", {reason: err.message})}));
  }
}

function render(inc) {
  $("inc-sev").className = `sev ${inc.severity}`;
  $("inc-sev").textContent = t(`severity.${inc.severity}`);
  $("inc-state").textContent = t(`state.${inc.state}`);
  $("inc-id").textContent = `T-${inc.id}`;
  $("inc-title").textContent = inc.title;
  const meta = [t("incident.opened", {when: when(inc.opened_at)})];
  if (inc.acked_by) meta.push(t("board.acked_by", {who: inc.acked_by}));
  if (inc.resolved_by) meta.push(t("incident.resolved_by", {who: inc.resolved_by}));
  $("inc-meta").textContent = meta.join(" · ");
  const held = (inc.windows || [])[0];
  $("inc-held").hidden = !held;
  $("inc-held").textContent = held ? t("incident.held", {id: held.id, schedule: held.schedule || ""}) : "";
  const run = (fn) => async () => {
    const message = await fn(inc);
    if (message) {
      say(message);
      await show(inc.id);
    }
    return "";
  };
  const buttons = [];
  if (inc.state === "triggered" || inc.state === "snoozed") {
    buttons.push(actionButton(t("action.ack"), run(act.ack), "primary"));
  }
  if (inc.state !== "resolved") {
    buttons.push(actionButton(t("action.ack_silence"), run(act.ackAndSilence)));
    buttons.push(actionButton(t("action.resolve"), run(act.resolve)));
    for (const d of ["30m", "2h", "8h"]) {
      buttons.push(actionButton(t("action.snooze_for", {duration: d}), run((i) => act.snooze(i, d)), "small"));
    }
    buttons.push(actionButton(t("action.escalate"), run(act.escalate), "small"));
  }
  $("inc-actions").replaceChildren(...buttons);
  $("inc-links").replaceChildren(...collectLinks(inc).map((l) => h("li", {}, extLink(l.url, linkLabel(l.kind)))));
  if (!$("inc-links").children.length) $("inc-links").replaceChildren(h("li", {class: "muted", text: t("incident.none")}));
  kv($("inc-labels"), Object.entries(inc.labels || {}));
  kv($("inc-annotations"), Object.entries(inc.annotations || {}));
  renderTimeline(inc);
}

export function setup() {
  $("inc-note").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("inc-note-text").value.trim();
    if (!text || currentId === null) return;
    try {
      say(await act.note({id: currentId}, text));
      $("inc-note-text").value = "";
      await show(currentId);
    } catch (err) {
      say(err.message);
    }
  });
}

export async function show(id) {
  const first = currentId !== id;
  currentId = id;
  try {
    const inc = await api("GET", `/api/v1/incidents/${encodeURIComponent(id)}`);
    render(inc);
    if (first) await renderGraph(inc);
  } catch (err) {
    $("inc-title").textContent = t("incident.not_found", {id});
    say(err.message);
  }
}

/** The change stream says this incident changed: refresh the page if it is the one shown. */
export function changed(inc) {
  if (currentId !== null && inc.id === currentId && location.hash === `#/incidents/${inc.id}`) show(inc.id);
}

export function leave() {
  currentId = null;
}
