"""The secrets of sign-in: random codes, session ids and CSRF tokens, and how they are kept (hashed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_code(length: int) -> str:
    """`length` random decimal digits (leading zeros kept)."""
    return "".join(secrets.choice("0123456789") for _ in range(length))


def hash_code(code: str, salt: bytes) -> bytes:
    """scrypt (4 MiB, about 10 ms): little for one sign-in, hours of CPU for trying every code of a leaked row,
    which expires within minutes anyway."""
    return hashlib.scrypt(code.encode(), salt=salt, n=2**12, r=8, p=1, dklen=32)


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def code_matches(code: str, salt: bytes, stored: bytes) -> bool:
    return hmac.compare_digest(hash_code(code, salt), stored)


def new_token() -> str:
    """A session id or CSRF token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """What the database keeps of a session id: its sha256 (the id has 256 bits, no salt or stretching needed)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
