// "Notify this device": register the service worker, subscribe with the server's VAPID key, store the
// subscription for the signed-in person. Browsers may refuse (no permission, no push service): say so.

import {api} from "./api.js";
import {say} from "./dom.js";
import {t} from "./i18n.js";

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function device() {
  const ua = navigator.userAgent;
  const platform = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac/.test(ua) ? "macOS"
    : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "browser";
  return `${platform} ${/Firefox/.test(ua) ? "Firefox" : /Chrom/.test(ua) ? "Chromium" : "browser"}`;
}

export async function subscribe() {
  try {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) throw new Error(t("push.unsupported"));
    const registration = await navigator.serviceWorker.register("/console/sw.js", {scope: "/console/"});
    await navigator.serviceWorker.ready;
    const {public_key: key} = await api("GET", "/api/v1/push/key");
    const sub = await registration.pushManager.subscribe({userVisibleOnly: true,
                                                         applicationServerKey: keyBytes(key)});
    const json = sub.toJSON();
    await api("POST", "/api/v1/push/subscriptions", {endpoint: json.endpoint, keys: json.keys, device: device()});
    say(t("push.on"));
  } catch (err) {
    say(t("push.refused", {error: err.message || String(err)}));
  }
}
