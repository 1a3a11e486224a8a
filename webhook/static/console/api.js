// The API on this origin with the session cookie; every change carries the session's CSRF token.

export class ApiError extends Error {
  constructor(status, message, body = {}) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const session = {person: null, csrf: ""};
const listeners = {unauthorized: () => {}};

export function onUnauthorized(fn) {
  listeners.unauthorized = fn;
}

export function setSession(body) {
  session.person = body ? body.person : null;
  session.csrf = body ? body.csrf || "" : "";
}

export function can(permission) {
  const perms = (session.person && session.person.permissions) || [];
  return perms.includes(permission);
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
  return detail ? JSON.stringify(detail) : "";
}

async function send(method, path, body) {
  const headers = {"Accept": "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = session.csrf;
  return fetch(path, {method, headers, credentials: "same-origin",
                      body: body === undefined ? undefined : JSON.stringify(body)});
}

/** The JSON answer, or an ApiError carrying the server's own message (401 also tells the app to sign in). */
export async function api(method, path, body, {quiet401 = false} = {}) {
  const response = await send(method, path, body);
  if (response.status === 204) return {};
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && !quiet401) listeners.unauthorized();
    throw new ApiError(response.status, detailText(data.detail) || `HTTP ${response.status}`, data);
  }
  return data;
}

/** A binary answer (the graph) as a blob, or an ApiError. */
export async function blob(path) {
  const response = await fetch(path, {credentials: "same-origin"});
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    throw new ApiError(response.status, detailText(data.detail) || `HTTP ${response.status}`);
  }
  return response.blob();
}
