"""Slack and Twilio callback verification, including forged, replayed and malformed requests."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from webhook.notifiers.base import SignatureError
from webhook.notifiers.slack.signature import slack_signature, verify_slack_signature
from webhook.notifiers.twilio.signature import verify_twilio_signature

SLACK_SECRET = SecretStr("8f742231b10e8888abcd99yyyzzz85a5")
NOW = 1_531_420_618.0
TS = "1531420618"
BODY = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
# Slack's published example: https://api.slack.com/authentication/verifying-requests-from-slack
SLACK_EXPECTED = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_known_vector():
    assert slack_signature(SLACK_SECRET, TS, BODY) == SLACK_EXPECTED
    verify_slack_signature(SLACK_SECRET, TS, BODY, SLACK_EXPECTED, now=NOW)


@pytest.mark.parametrize(("timestamp", "signature", "now", "reason"), [
    (TS, SLACK_EXPECTED, NOW + 301, "window"),  # replayed later
    (TS, SLACK_EXPECTED, NOW - 301, "window"),  # from the future
    (None, SLACK_EXPECTED, NOW, "missing"),
    (TS, None, NOW, "missing"),
    ("", SLACK_EXPECTED, NOW, "missing"),
    ("153142061a", SLACK_EXPECTED, NOW, "malformed"),
    ("-1531420618", SLACK_EXPECTED, NOW, "malformed"),
    ("1" * 40, SLACK_EXPECTED, NOW, "malformed"),
    (TS, SLACK_EXPECTED.replace("v0=", "v1="), NOW, "malformed"),
    (TS, "v0=" + "0" * 64, NOW, "does not match"),
    (TS, SLACK_EXPECTED[:-1], NOW, "does not match"),
    (TS, "v0=ä" + SLACK_EXPECTED[4:], NOW, "malformed"),
])
def test_slack_rejects(timestamp, signature, now, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_slack_signature(SLACK_SECRET, timestamp, BODY, signature, now=now)


def test_slack_rejects_a_tampered_body_and_a_wrong_secret():
    with pytest.raises(SignatureError, match="does not match"):
        verify_slack_signature(SLACK_SECRET, TS, BODY + b"&x=1", SLACK_EXPECTED, now=NOW)
    with pytest.raises(SignatureError, match="does not match"):
        verify_slack_signature(SecretStr("other"), TS, BODY, SLACK_EXPECTED, now=NOW)


def test_slack_window_edge_is_inclusive():
    assert verify_slack_signature(SLACK_SECRET, TS, BODY, SLACK_EXPECTED, now=NOW + 300) is None


def test_signature_error_does_not_carry_the_secret():
    with pytest.raises(SignatureError) as info:
        verify_slack_signature(SLACK_SECRET, TS, BODY, "v0=00", now=NOW)
    assert SLACK_SECRET.get_secret_value() not in str(info.value)


# Twilio's published example (security docs): token 12345, this URL and these POST parameters.
TWILIO_TOKEN = SecretStr("12345")
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
                 "From": "+14158675309", "To": "+18005551212"}
TWILIO_EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_known_vector():
    assert verify_twilio_signature(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS, TWILIO_EXPECTED) is None


def test_twilio_agrees_with_the_sdk_validator():
    params = {"Body": "ack T-41", "From": "+4915112345678", "MessageSid": "SM" + "1" * 32, "To": "+15005550006"}
    url = "https://tocsin.example.com/twilio/sms"
    signature = RequestValidator("tok").compute_signature(url, params)
    assert verify_twilio_signature(SecretStr("tok"), url, params, signature) is None
    assert verify_twilio_signature(SecretStr("tok"), url, list(params.items()), signature) is None


def test_twilio_accepts_the_url_with_or_without_the_default_port():
    url = "https://tocsin.example.com/twilio/voice?incident=41"
    signed_with_port = RequestValidator("tok").compute_signature("https://tocsin.example.com:443/twilio/voice?incident=41",
                                                                 {"Digits": "1"})
    assert verify_twilio_signature(SecretStr("tok"), url, {"Digits": "1"}, signed_with_port) is None


@pytest.mark.parametrize(("url", "params", "signature"), [
    (TWILIO_URL, TWILIO_PARAMS, None),
    (TWILIO_URL, TWILIO_PARAMS, ""),
    (TWILIO_URL, {**TWILIO_PARAMS, "Digits": "2"}, TWILIO_EXPECTED),  # tampered key press
    (TWILIO_URL.replace("foo=1", "foo=2"), TWILIO_PARAMS, TWILIO_EXPECTED),  # other incident in the URL
    ("http://mycompany.com/myapp.php?foo=1&bar=2", TWILIO_PARAMS, TWILIO_EXPECTED),  # scheme downgraded
    (TWILIO_URL, TWILIO_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
    (TWILIO_URL, TWILIO_PARAMS, "not base64 at all ✓"),
])
def test_twilio_rejects_forgeries(url, params, signature):
    with pytest.raises(SignatureError):
        verify_twilio_signature(TWILIO_TOKEN, url, params, signature)
