// Alertmanager matchers (name="v", name!="v", name=~"re", name!~"re") evaluated here only to mark board
// cards as held by an active window; the server decides what is held, this is just the display.

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$/;

function unquote(value) {
  return value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
}

export function parse(text) {
  const m = MATCHER.exec(text);
  if (!m) return null;
  const value = m[3] !== undefined ? unquote(m[3]) : m[4];
  let regex = null;
  if (m[2] === "=~" || m[2] === "!~") {
    try {
      regex = new RegExp(`^(?:${value})$`);
    } catch {
      return null;
    }
  }
  return {name: m[1], op: m[2], value, regex};
}

function one(matcher, labels) {
  const actual = labels[matcher.name] || "";
  switch (matcher.op) {
    case "=": return actual === matcher.value;
    case "!=": return actual !== matcher.value;
    case "=~": return matcher.regex.test(actual);
    default: return !matcher.regex.test(actual);
  }
}

/** The first active window whose matchers all match `labels`, or null. */
export function heldBy(windows, labels) {
  for (const w of windows) {
    const parsed = w.matchers.map(parse);
    if (parsed.length && parsed.every((m) => m && one(m, labels))) return w;
  }
  return null;
}
