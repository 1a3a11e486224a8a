"""The VAPID key: loaded from PEM or raw base64url, generated once in dev mode, required otherwise."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.harness import make_config
from tests.webhook.push.conftest import SUBJECT
from webhook.config.channels import WebPushChannel
from webhook.push.keys import ack_key, b64url, load_vapid, public_key, vapid_key
from webhook.yamlpos import ConfigError


def test_dev_mode_generates_one_private_key_and_ack_secret_and_keeps_them(tmp_path: Path) -> None:
    cfg = make_config(f"sqlite:///{tmp_path / 't.db'}", tmp_path, server={"dev_mode": True})
    push = WebPushChannel(subject=SUBJECT)
    first = public_key(vapid_key(cfg, push))
    assert public_key(vapid_key(cfg, push)) == first
    pem = cfg.server.var_dir / "vapid-private.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert ack_key(cfg, push) == ack_key(cfg, push)
    assert stat.S_IMODE((cfg.server.var_dir / "push-ack-secret").stat().st_mode) == 0o600


def test_outside_dev_mode_the_key_file_is_required_and_must_be_a_p256_key(tmp_path: Path) -> None:
    cfg = make_config(f"sqlite:///{tmp_path / 't.db'}", tmp_path)
    with pytest.raises(ConfigError, match="required outside dev mode"):
        vapid_key(cfg, WebPushChannel(subject=SUBJECT))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="not a P-256 private key") as err:
        vapid_key(cfg, WebPushChannel(subject=SUBJECT, vapid_private_key_file=bad))
    assert "not a key" not in str(err.value)
    short = tmp_path / "short-secret"
    short.write_text("too short")
    with pytest.raises(ConfigError, match="shorter than 32"):
        ack_key(cfg, WebPushChannel(subject=SUBJECT, ack_secret_file=short))


def test_a_raw_base64url_key_loads_like_its_pem(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = tmp_path / "raw.key"
    raw.write_text(b64url(key.private_numbers().private_value.to_bytes(32, "big")) + "\n")
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert public_key(load_vapid(raw)) == b64url(point)
