"""Twilio request signatures (HMAC-SHA1 over the public URL and the sorted form parameters)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from webhook.notifiers.base import SignatureError


def twilio_signature(auth_token: SecretStr, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Twilio's algorithm: the full URL, then every POST parameter name+value sorted by name, HMAC-SHA1, base64."""
    pairs = sorted(params.items() if isinstance(params, Mapping) else params)
    payload = url + "".join(name + value for name, value in pairs)
    mac = hmac.new(auth_token.get_secret_value().encode(), payload.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """Twilio signs the URL as it dialled it, with or without the default port: accept both spellings."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    variants = [url]
    if default is None:
        return variants
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts.netloc)}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts.netloc)}{host}")))
    return variants


def _userinfo(netloc: str) -> str:
    return netloc.rsplit("@", 1)[0] + "@" if "@" in netloc else ""


def verify_twilio_signature(
    auth_token: SecretStr,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
) -> None:
    """Raise SignatureError unless `signature` is Twilio's for this public URL and form parameters.

    `url` must be the URL Twilio called (the public one configured in Twilio, query string included),
    not the one behind a reverse proxy.
    """
    if not signature:
        raise SignatureError("missing X-Twilio-Signature")
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    given = signature.encode()
    for candidate in _port_variants(url):
        if hmac.compare_digest(twilio_signature(auth_token, candidate, pairs).encode(), given):
            return
    raise SignatureError("X-Twilio-Signature does not match")
