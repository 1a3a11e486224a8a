// German and English: the strings live in i18n/<lang>.json; the page's own text carries data-i18n keys.

const SUPPORTED = ["en", "de"];
const STORED = "tocsin-lang";
let strings = {};
let current = "en";

export function lang() {
  return current;
}

/** The language: the one chosen here before, else the person's locale, else the browser's, else English. */
export function choose(personLocale) {
  const stored = localStorage.getItem(STORED);
  for (const candidate of [stored, personLocale, ...(navigator.languages || [navigator.language])]) {
    const short = (candidate || "").slice(0, 2).toLowerCase();
    if (SUPPORTED.includes(short)) return short;
  }
  return "en";
}

export function remember(choice) {
  localStorage.setItem(STORED, choice);
}

export async function load(choice) {
  const response = await fetch(`/console/static/i18n/${choice}.json?v=1`, {credentials: "same-origin"});
  strings = await response.json();
  current = choice;
  document.documentElement.lang = choice;
  apply(document);
}

/** The string for `key` with {name} placeholders filled in (the result is only ever used as text). */
export function t(key, vars = {}) {
  const template = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Translate the marked elements under `root`: text, aria-label and placeholder. */
export function apply(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
}

export function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(current, {dateStyle: "medium", timeStyle: "short"}).format(new Date(iso));
}

/** "5 minutes ago" / "vor 5 Minuten", or "in 2 hours". */
export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const fmt = new Intl.RelativeTimeFormat(current, {numeric: "auto"});
  const steps = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= size) return fmt.format(Math.trunc(seconds / size), unit);
  }
  return fmt.format(seconds, "second");
}
