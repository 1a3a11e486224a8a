"""A minimal OpenID Connect provider for the tests: discovery, /authorize that signs the configured user in at once
(redirecting back with a code), /token that checks the code, PKCE and the client's secret and returns an RS256 ID
token made with joserfc, and /jwks. It can misbehave on request (a wrong nonce, a signature by another key)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer

CLIENT_ID = "tocsin-console"
CLIENT_SECRET = "oidc-client-secret-0123456789"
KID = "test-key-1"
_KEYS: dict[str, RSAKey] = {}


def _key(name: str) -> RSAKey:
    """RSA keys are slow to make: one per name for the whole run."""
    if name not in _KEYS:
        _KEYS[name] = RSAKey.generate_key(2048, parameters={"kid": KID, "use": "sig", "alg": "RS256"})
    return _KEYS[name]


@dataclass
class Grant:
    claims: dict[str, Any]
    nonce: str
    challenge: str
    redirect_uri: str


ALICE = {"sub": "u-alice", "email": "alice@example.com", "preferred_username": "alice"}


class FakeOidc(FakeServer):
    """`user` holds the claims of whoever signs in next; `tamper` makes the next ID tokens wrong."""

    name = "oidc"

    def __init__(self) -> None:
        super().__init__()
        self.user: dict[str, Any] = dict(ALICE)
        self.tamper: Literal["nonce", "signature"] | None = None
        self.grants: dict[str, Grant] = {}
        #: what the provider refused (a broken request from Tocsin): tests assert it stays empty
        self.problems: list[str] = []

    def routes(self) -> list[Route]:
        return [Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize), Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks)]

    def reset_state(self) -> None:
        self.user = dict(ALICE)
        self.tamper = None
        self.grants.clear()
        self.problems.clear()

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"]})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([_key("provider")]).as_dict(private=False))

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        wanted = {"client_id": CLIENT_ID, "response_type": "code", "code_challenge_method": "S256"}
        bad = [k for k, v in wanted.items() if q.get(k) != v]
        bad += [k for k in ("redirect_uri", "state", "nonce", "code_challenge") if not q.get(k)]
        if "openid" not in (q.get("scope") or "").split():
            bad.append("scope")
        if bad:
            self.problems.append(f"authorize: bad or missing {bad}")
            return JSONResponse({"error": "invalid_request", "bad": bad}, 400)
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(dict(self.user), q["nonce"], q["code_challenge"], q["redirect_uri"])
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}  # no python-multipart here
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != expected:
            self.problems.append("token: client authentication failed")
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.grants.pop(str(form.get("code", "")), None)
        if grant is None or form.get("grant_type") != "authorization_code" \
                or form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, 400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != grant.challenge:
            self.problems.append("token: PKCE verifier does not match the challenge")
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": "not-the-nonce" if self.tamper == "nonce" else grant.nonce, **grant.claims}
        key = _key("impostor" if self.tamper == "signature" else "provider")
        id_token = jwt.encode({"alg": "RS256", "kid": KID}, claims, key)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                             "id_token": id_token})
