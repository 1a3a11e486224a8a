"""OpenID Connect sign-in: the authorization request (state, nonce, PKCE), the code exchange and the ID token's
checks (signature by the provider's JWKS, issuer, audience, nonce, expiry). The one module that talks to the
provider (httpx); authlib builds the request, joserfc checks the token."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from webhook.config.console import OidcConfig
from webhook.yamlpos import ConfigError, ConfigErrorItem

#: How long a started sign-in may take at the provider (the pending cookie's life).
PENDING_SECONDS = 600
#: Signature algorithms accepted for ID tokens (never "none", never HMAC with a public client's secret).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
#: Clock skew allowed between Tocsin and the provider.
LEEWAY = 60


class OidcError(Exception):
    """The sign-in failed; the message is safe to show (it holds no token or secret)."""


@dataclass(frozen=True)
class Pending:
    """A started sign-in, kept in a short-lived cookie of the browser that started it."""

    state: str
    nonce: str
    verifier: str
    started: int

    def __repr__(self) -> str:
        return f"Pending(started={self.started})"

    def encode(self) -> str:
        raw = json.dumps([self.state, self.nonce, self.verifier, self.started]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str, now: float) -> Pending:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            state, nonce, verifier, started = json.loads(raw)
            pending = cls(str(state), str(nonce), str(verifier), int(started))
        except (ValueError, TypeError) as exc:
            raise OidcError("the sign-in was not started here (no or a broken state cookie)") from exc
        if not 0 <= now - pending.started <= PENDING_SECONDS:
            raise OidcError("the sign-in took too long: start again")
        return pending


def read_secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError([ConfigErrorItem(str(path), None, "console.oidc.client_secret_file",
                                           f"cannot read: {exc.strerror}")]) from exc
    return value or None


class OidcProvider:
    """The configured provider; its discovery document and keys are fetched once and kept (keys again when a
    token names a key not among them)."""

    def __init__(self, cfg: OidcConfig) -> None:
        self.cfg = cfg
        self._secret = read_secret(cfg.client_secret_file)
        self._meta: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    def __repr__(self) -> str:
        return f"OidcProvider(issuer={self.cfg.issuer!r}, client_id={self.cfg.client_id!r})"

    async def _get_json(self, client: httpx.AsyncClient, url: str, what: str) -> dict[str, Any]:
        try:
            resp = await client.get(url)
            resp.raise_for_status()
            data = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(f"the identity provider's {what} could not be read: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise OidcError(f"the identity provider's {what} is not a JSON object")
        return data

    async def metadata(self, client: httpx.AsyncClient) -> dict[str, Any]:
        if self._meta is None:
            url = self.cfg.issuer.rstrip("/") + "/.well-known/openid-configuration"
            meta = await self._get_json(client, url, "discovery document")
            missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if k not in meta]
            if missing:
                raise OidcError(f"the identity provider's discovery document lacks {', '.join(missing)}")
            if meta["issuer"] != self.cfg.issuer:
                raise OidcError("the identity provider's discovery document names another issuer")
            self._meta = meta
        return self._meta

    async def _key_set(self, client: httpx.AsyncClient, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            meta = await self.metadata(client)
            data = await self._get_json(client, str(meta["jwks_uri"]), "keys (JWKS)")
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise OidcError("the identity provider's keys (JWKS) could not be read") from exc
        return self._keys

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.cfg.timeout, follow_redirects=False)

    async def start(self, redirect_uri: str) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what the callback must match."""
        async with self._client() as client:
            meta = await self.metadata(client)
        pending = Pending(generate_token(32), generate_token(32), generate_token(64), int(time.time()))
        url = prepare_grant_uri(str(meta["authorization_endpoint"]), self.cfg.client_id, "code",
                                redirect_uri=redirect_uri, scope=" ".join(self.cfg.scopes), state=pending.state,
                                nonce=pending.nonce, code_challenge=create_s256_code_challenge(pending.verifier),
                                code_challenge_method="S256")
        return url, pending

    async def finish(self, code: str, redirect_uri: str, pending: Pending) -> dict[str, Any]:
        """Exchange the code and return the checked ID token's claims."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier, "client_id": self.cfg.client_id}
        # client_secret_basic for a confidential client; a public one proves itself by PKCE alone
        auth = httpx.BasicAuth(self.cfg.client_id, self._secret) if self._secret else httpx.USE_CLIENT_DEFAULT
        async with self._client() as client:
            meta = await self.metadata(client)
            try:
                resp = await client.post(str(meta["token_endpoint"]), data=form, auth=auth,
                                         headers={"Accept": "application/json"})
                body = resp.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError(f"the code exchange failed: {type(exc).__name__}") from exc
            if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
                error = body.get("error") if isinstance(body, dict) else None
                raise OidcError(f"the identity provider refused the code ({str(error or resp.status_code)[:80]})")
            return await self._claims(client, body["id_token"], pending.nonce)

    async def _claims(self, client: httpx.AsyncClient, id_token: str, nonce: str) -> dict[str, Any]:
        keys = await self._key_set(client)
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except (BadSignatureError, ValueError):  # the provider may have rolled its keys: read them again
                token = jwt.decode(id_token, await self._key_set(client, refresh=True), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": self.cfg.issuer},
                aud={"essential": True, "value": self.cfg.client_id}, nonce={"essential": True, "value": nonce},
                exp={"essential": True}, sub={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token was refused: {type(exc).__name__}: {str(exc)[:120]}") from exc
        return dict(token.claims)
