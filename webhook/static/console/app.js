// The console's entry: session, language, colour scheme, hash routes, the live change stream.

import {api, onUnauthorized, session, setSession} from "./api.js";
import * as board from "./board.js";
import {$, say} from "./dom.js";
import * as i18n from "./i18n.js";
import * as incident from "./incident.js";
import {subscribe} from "./push.js";
import * as schedules from "./schedules.js";
import * as signin from "./signin.js";
import * as windows from "./windows.js";

const THEME = "tocsin-theme";
let stream = null;
let retry = 0;

function route() {
  const hash = location.hash || "#/";
  const m = /^#\/incidents\/(\d+)$/.exec(hash);
  if (m) return {view: "incident", id: Number(m[1])};
  if (hash === "#/windows") return {view: "windows"};
  if (hash === "#/schedules") return {view: "schedules"};
  if (hash === "#/signin") return {view: "signin"};
  return {view: "board"};
}

async function render() {
  let {view, id} = route();
  if (!session.person && view !== "signin") {
    location.replace("#/signin");
    return;
  }
  if (session.person && view === "signin") view = "board";
  for (const section of document.querySelectorAll("main > [data-view]")) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll("[data-view-link]")) {
    if (link.dataset.viewLink === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.querySelector(".views").hidden = !session.person;
  if (view !== "incident") incident.leave();
  if (view === "board") await board.show();
  else if (view === "incident") await incident.show(id);
  else if (view === "windows") await windows.show();
  else if (view === "schedules") {
    schedules.prefill();
    await schedules.show();
  } else await signin.show();
  document.body.dataset.page = view;
  document.body.dataset.ready = "1";
}

function live(state) {
  const el = $("live");
  el.dataset.state = state;
  el.textContent = i18n.t(`live.${state}`);
}

/** The change stream (EventSource reconnects by itself; when the server closes it for good, try again later). */
function connect() {
  if (stream) stream.close();
  stream = new EventSource("/api/v1/stream", {withCredentials: true});
  stream.addEventListener("open", () => live("on"));
  stream.addEventListener("incident", (event) => {
    const inc = JSON.parse(event.data);
    board.upsert(inc);
    incident.changed(inc);
  });
  stream.addEventListener("reset", () => board.reload());
  stream.addEventListener("error", () => {
    live("off");
    if (stream.readyState === EventSource.CLOSED && session.person) {
      clearTimeout(retry);
      retry = setTimeout(() => {
        connect();
        board.reload();
      }, 15000);
    }
  });
}

function disconnect() {
  clearTimeout(retry);
  if (stream) stream.close();
  stream = null;
  live("off");
}

function topBar() {
  const person = session.person;
  $("person").hidden = !person;
  $("person").textContent = person ? person.full_name || person.name : "";
  $("signout").hidden = !person;
  $("notify").hidden = !person;
}

async function signedIn() {
  topBar();
  const choice = i18n.choose(session.person && session.person.locale);
  if (choice !== i18n.lang()) await i18n.load(choice);
  $("lang").value = i18n.lang();
  connect();
  location.hash = "#/";
  await render();
}

function applyTheme(theme) {
  const root = document.documentElement;
  if (theme === "auto") delete root.dataset.theme; else root.dataset.theme = theme;
  const dark = theme === "dark" || (theme === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  $("theme").setAttribute("aria-pressed", String(dark));
}

function setupTop() {
  $("lang").addEventListener("change", async () => {
    i18n.remember($("lang").value);
    await i18n.load($("lang").value);
    await render();
  });
  $("theme").addEventListener("click", () => {
    const dark = $("theme").getAttribute("aria-pressed") === "true";
    const next = dark ? "light" : "dark";
    localStorage.setItem(THEME, next);
    applyTheme(next);
  });
  $("notify").addEventListener("click", () => subscribe());
  $("signout").addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/v1/session");
    } catch (err) {
      say(err.message);
    }
    setSession(null);
    disconnect();
    topBar();
    say(i18n.t("signin.signed_out"));
    location.hash = "#/signin";
  });
}

async function start() {
  applyTheme(localStorage.getItem(THEME) || "auto");
  try {
    setSession(await api("GET", "/api/v1/session", undefined, {quiet401: true}));
  } catch {
    setSession(null);
  }
  await i18n.load(i18n.choose(session.person && session.person.locale));
  $("lang").value = i18n.lang();
  onUnauthorized(() => {
    setSession(null);
    disconnect();
    topBar();
    location.hash = "#/signin";
  });
  setupTop();
  board.setup();
  incident.setup();
  windows.setup();
  schedules.setup();
  signin.setup(signedIn);
  topBar();
  window.addEventListener("hashchange", render);
  if (session.person) connect();
  await render();
}

start();
