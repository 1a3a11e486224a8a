/* Tocsin's service worker (scope /console/): shows Web Push pages and acknowledges from the notification.
   The payload is the JSON of webhook/notifiers/webpush.py: title, body, incident, url, severity, ack_token, lang. */
"use strict";

const LABELS = {
  en: { ack: "Acknowledge", open: "Open", acked: "Acknowledged", failed: "Could not acknowledge" },
  de: { ack: "Bestätigen", open: "Öffnen", acked: "Bestätigt", failed: "Bestätigen fehlgeschlagen" },
};

function labels(lang) {
  return LABELS[lang] || LABELS.en;
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_err) {
    data = { title: "Tocsin", body: event.data ? event.data.text() : "" };
  }
  const t = labels(data.lang);
  const actions = [{ action: "open", title: t.open }];
  if (data.ack_token) actions.unshift({ action: "ack", title: t.ack });
  event.waitUntil(self.registration.showNotification(data.title || "Tocsin", {
    body: data.body || "",
    tag: data.incident ? `incident-${data.incident}` : "tocsin",
    renotify: true,
    requireInteraction: data.severity === "critical",
    lang: data.lang || "en",
    icon: "/console/static/icon.svg",
    data,
    actions,
  }));
});

async function acknowledge(data) {
  const t = labels(data.lang);
  // no cookie: the signed token is the credential (and a cookie would need a CSRF token)
  const response = await fetch("/api/v1/push/ack", {
    method: "POST",
    credentials: "omit",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: data.ack_token, incident: Number(data.incident) }),
  });
  if (!response.ok) {
    await self.registration.showNotification(data.title || "Tocsin", {
      body: t.failed, tag: data.incident ? `incident-${data.incident}` : "tocsin", lang: data.lang || "en",
      data: { ...data, ack_token: null }, actions: [{ action: "open", title: t.open }],
    });
  }
  return response.ok;
}

async function open(url) {
  const target = new URL(url || "/console/", self.location.origin).href;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (client.url.startsWith(new URL("/console/", self.location.origin).href)) {
      await client.focus();
      if ("navigate" in client) await client.navigate(target);
      return;
    }
  }
  await self.clients.openWindow(target);
}

self.addEventListener("notificationclick", (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  if (event.action === "ack" && data.ack_token) {
    event.waitUntil(acknowledge(data));
    return;
  }
  event.waitUntil(open(data.url));
});
