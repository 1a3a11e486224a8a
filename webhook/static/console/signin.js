// Sign-in with a one-time code sent through the person's own channel (or SSO when the server offers it).

import {api, setSession} from "./api.js";
import {$, say} from "./dom.js";
import {t} from "./i18n.js";

let name = "";
let signedIn = () => {};

function step(codeStep) {
  $("signin-name").hidden = codeStep;
  $("signin-code").hidden = !codeStep;
  (codeStep ? $("signin-digits") : $("signin-who")).focus();
}

async function sso() {
  const response = await fetch("/console/options", {credentials: "same-origin", headers: {"Accept": "application/json"}});
  const body = await response.json().catch(() => ({}));
  return body.oidc === true;
}

export function setup(onSignedIn) {
  signedIn = onSignedIn;
  $("signin-name").addEventListener("submit", async (event) => {
    event.preventDefault();
    name = $("signin-who").value.trim();
    if (!name) return;
    try {
      await api("POST", "/api/v1/session/code", {name}, {quiet401: true});
      say(t("signin.sent"));
      step(true);
    } catch (err) {
      say(t("signin.failed", {error: err.message}));
    }
  });
  $("signin-code").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = $("signin-digits").value.trim();
    try {
      const body = await api("POST", "/api/v1/session", {name, code}, {quiet401: true});
      setSession(body);
      $("signin-digits").value = "";
      say(t("signin.welcome", {name: body.person.full_name || body.person.name}));
      await signedIn();
    } catch (err) {
      $("signin-digits").value = "";
      const left = err.body && Number.isInteger(err.body.attempts_left)
        ? ` ${t("signin.attempts", {n: err.body.attempts_left})}` : "";
      say(t("signin.wrong", {error: err.message}) + left);
      $("signin-digits").focus();
    }
  });
  $("signin-again").addEventListener("click", () => step(false));
}

export async function show() {
  step(false);
  try {
    $("signin-sso").hidden = !(await sso());
  } catch {
    $("signin-sso").hidden = true;
  }
}
