"""The VAPID key pair (loaded, or generated in dev mode) and the secret behind the Acknowledge tokens."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

from webhook.config import TocsinConfig
from webhook.config.channels import WebPushChannel
from webhook.yamlpos import ConfigError, ConfigErrorItem

DEV_VAPID_FILE = "vapid-private.pem"
ACK_SECRET_FILE = "push-ack-secret"  # noqa: S105 - a file name, not a secret
#: The Acknowledge tokens' HMAC key is derived from the server secret for this one purpose.
ACK_KEY_LABEL = b"tocsin web push ack token v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional); ValueError on anything else."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def _problem(cfg_key: str, msg: str) -> ConfigError:
    return ConfigError([ConfigErrorItem("<config>", None, cfg_key, msg)])


def _create_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file; a racing replica that wrote it first wins (its content is kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


def vapid_key(cfg: TocsinConfig, push: WebPushChannel) -> Vapid:
    """The configured VAPID key; in dev mode without one, <var_dir>/vapid-private.pem (made on first use)."""
    path = push.vapid_private_key_file
    if path is None:
        if not cfg.server.dev_mode:
            raise _problem("channels.webpush.vapid_private_key_file", "required outside dev mode (a PEM file)")
        path = cfg.server.var_dir / DEV_VAPID_FILE
        if not path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            _create_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return load_vapid(path)


def load_vapid(path: Path) -> Vapid:
    """A PEM private key, or the raw 32-byte key (or DER) in base64url, as `vapid --gen` and web-push write."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise _problem("channels.webpush.vapid_private_key_file", f"cannot read {path}: {exc.strerror}") from exc
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("not a P-256 key")
            return Vapid(key)
        vapid = Vapid.from_string(text)
    except Exception as exc:  # the libraries raise many types; none of their texts contains the key
        raise _problem("channels.webpush.vapid_private_key_file",
                       f"{path}: not a P-256 private key (PEM, or raw base64url): {type(exc).__name__}") from exc
    return vapid


def public_key(vapid: Vapid) -> str:
    """The application server key a browser subscribes with: the uncompressed P-256 point in base64url."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


def ack_key(cfg: TocsinConfig, push: WebPushChannel) -> bytes:
    """The HMAC key of Acknowledge tokens, derived from a server secret (never from the VAPID key)."""
    path = push.ack_secret_file
    if path is None:
        path = cfg.server.var_dir / ACK_SECRET_FILE
        if not path.exists():
            _create_private(path, (secrets.token_urlsafe(48) + "\n").encode())
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise _problem("channels.webpush.ack_secret_file", f"cannot read {path}: {exc.strerror}") from exc
    if len(secret) < 32:
        raise _problem("channels.webpush.ack_secret_file", "secret shorter than 32 characters")
    return hmac.new(secret, ACK_KEY_LABEL, hashlib.sha256).digest()
