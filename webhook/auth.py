"""Credentials: resolve configured tokens (files, dev-mode generation) and check them in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from webhook.config import ApiScope, TocsinConfig
from webhook.yamlpos import ConfigError, ConfigErrorItem

ALL_SCOPES: frozenset[ApiScope] = frozenset({"read", "respond", "remediate", "approve", "windows", "schedules"})


@dataclass(frozen=True)
class ApiKey:
    """One API token: the actor's name, the secret and what it may do (auth.api_tokens[].scopes)."""

    name: str
    secret: bytes = field(repr=False)
    scopes: frozenset[ApiScope]


@dataclass(frozen=True)
class Credentials:
    """Resolved secrets; `repr` never shows them."""

    webhook_tokens: tuple[bytes, ...] = field(repr=False)
    basic: tuple[bytes, bytes] | None = field(repr=False)
    api_tokens: tuple[ApiKey, ...] = field(repr=False)
    generated: dict[str, Path] = field(default_factory=dict)


def _read_secret(path: Path, what: str) -> bytes:
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError([ConfigErrorItem(str(path), None, what, f"cannot read: {exc.strerror}")]) from exc
    if len(value) < 16:
        raise ConfigError([ConfigErrorItem(str(path), None, what, "token shorter than 16 characters")])
    return value.encode()


def _dev_token(var_dir: Path, name: str) -> tuple[bytes, Path]:
    """A random token kept under var_dir so it survives restarts of `make run`."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip().encode(), path


def resolve_credentials(cfg: TocsinConfig) -> Credentials:
    """Collect every token; refuse to start without webhook and API credentials unless in dev mode."""
    w = cfg.auth.webhook
    hooks = [t.get_secret_value().encode() for t in w.bearer_tokens]
    hooks += [_read_secret(p, "auth.webhook.bearer_token_files") for p in w.bearer_token_files]
    basic = (w.basic.username.encode(), w.basic.password.get_secret_value().encode()) if w.basic else None
    api: list[ApiKey] = []
    for t in cfg.auth.api_tokens:
        if t.token is not None:
            secret = t.token.get_secret_value().strip().encode()
        else:
            assert t.token_file is not None
            secret = _read_secret(t.token_file, f"auth.api_tokens.{t.name}")
        api.append(ApiKey(t.name, secret, frozenset(t.scopes)))
    generated: dict[str, Path] = {}
    if cfg.server.dev_mode:
        if not hooks and basic is None:
            tok, path = _dev_token(cfg.server.var_dir, "webhook-token")
            hooks.append(tok)
            generated["webhook"] = path
        if not api:
            tok, path = _dev_token(cfg.server.var_dir, "api-token")
            api.append(ApiKey("dev", tok, ALL_SCOPES))
            generated["api"] = path
    problems = []
    if not hooks and basic is None:
        problems.append(ConfigErrorItem("<config>", None, "auth.webhook",
                                        "no webhook credentials: set bearer_tokens, bearer_token_files or basic"))
    if not api:
        problems.append(ConfigErrorItem("<config>", None, "auth.api_tokens", "no API token configured"))
    if any(hmac.compare_digest(a.secret, h) for a in api for h in hooks):
        problems.append(ConfigErrorItem("<config>", None, "auth.api_tokens",
                                        "an API token equals a webhook token; they must differ"))
    if problems:
        raise ConfigError(problems)
    return Credentials(tuple(hooks), basic, tuple(api), generated)


def _bearer(header: str) -> bytes | None:
    scheme, _, value = header.partition(" ")
    return value.strip().encode() if scheme.lower() == "bearer" and value.strip() else None


def check_webhook(creds: Credentials, header: str | None) -> bool:
    """True when the Authorization header carries a webhook bearer token or the basic credentials."""
    if not header:
        return False
    token = _bearer(header)
    if token is not None:
        ok = False
        for t in creds.webhook_tokens:  # compare with all: no early exit that leaks which one matched
            ok |= hmac.compare_digest(token, t)
        return ok
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or creds.basic is None:
        return False
    try:
        user, sep, pw = base64.b64decode(value.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    return bool(sep) & hmac.compare_digest(user, creds.basic[0]) & hmac.compare_digest(pw, creds.basic[1])


def api_key(creds: Credentials, token: bytes) -> ApiKey | None:
    """The API token equal to `token`, compared with every configured one (no early exit)."""
    found = None
    for key in creds.api_tokens:
        if hmac.compare_digest(token, key.secret):
            found = key
    return found


def check_api(creds: Credentials, header: str | None) -> ApiKey | None:
    """The API token sent as `Authorization: Bearer ...`, or None."""
    token = _bearer(header or "")
    return None if token is None else api_key(creds, token)
