"""Twilio SMS and voice against the contract-checked fake Twilio, plus the reply and keypad parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import aiohttp
import httpx
import pytest
from pydantic import SecretStr

from tests.fakes import FakeTwilio
from tests.fakes.twilio import TEST_ACCOUNT_SID, TEST_AUTH_TOKEN
from tests.support.incident_view import make_incident
from webhook.notifiers.base import Channel, Delivered, Message, MessageKind, Permanent, Retryable, Target
from webhook.notifiers.render import Renderer
from webhook.notifiers.twilio.notifier import TwilioNotifier
from webhook.notifiers.twilio.twiml import (
    ReplyVerb,
    SmsCommand,
    SmsReplyError,
    parse_sms_reply,
    parse_voice_digits,
    voice_gather_twiml,
    voice_result_twiml,
)

PHONE = "+4915112345678"
FROM = "+15005550006"
ACTION = "https://tocsin.example.com/twilio/voice"


def notifier(fake: FakeTwilio, renderer: Renderer, token: str = TEST_AUTH_TOKEN, timeout: float = 10,
             session: aiohttp.ClientSession | None = None) -> TwilioNotifier:
    return TwilioNotifier(TEST_ACCOUNT_SID, SecretStr(token), FROM, renderer, voice_action_url=ACTION,
                          base_url=fake.url, timeout=timeout, session=session)


async def test_sms_carries_the_short_code_and_reply_instructions(fake_twilio, renderer, incident):
    result = await notifier(fake_twilio, renderer).notify(Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE),
                                                                  incident))
    assert isinstance(result, Delivered)
    [sms] = fake_twilio.messages
    assert result.reference == sms.sid
    assert sms.sid.startswith("SM")
    assert (sms.to, sms.from_) == (PHONE, FROM)
    assert sms.body == "[CRIT] T-41 api-gateway 5xx ratio above 5%. Reply ACK T-41 / RES T-41"
    assert fake_twilio.violations == []


async def test_sms_stays_within_the_budget_and_keeps_the_reply_code(fake_twilio, incident):
    long = make_incident(title="x" * 500)
    await notifier(fake_twilio, Renderer(sms_budget=160)).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), long))
    body = fake_twilio.messages[0].body
    assert len(body) <= 160
    assert body.endswith("Reply ACK T-41 / RES T-41")


async def test_voice_call_sends_gather_twiml_pointing_at_tocsin(fake_twilio, renderer, incident):
    result = await notifier(fake_twilio, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.VOICE, PHONE), incident, locale="de"))
    assert isinstance(result, Delivered)
    [call] = fake_twilio.calls
    assert call.sid.startswith("CA")
    root = ET.fromstring(call.twiml)
    gather = root.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"{ACTION}?incident=41"
    says = [s.text for s in gather.findall("Say")]
    assert "Drücken Sie 1 zum Bestätigen, 2 zum Beheben." in says
    assert all(s.get("language") == "de-DE" for s in gather.findall("Say"))
    assert fake_twilio.violations == []


async def test_shared_session_is_used_and_left_open(fake_twilio, renderer, incident):
    async with aiohttp.ClientSession() as session:
        twilio = notifier(fake_twilio, renderer, session=session)
        for _ in range(2):
            await twilio.notify(Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), incident))
        assert not session.closed
    assert len(fake_twilio.messages) == 2


async def test_wrong_credentials_are_permanent(fake_twilio, renderer, incident):
    result = await notifier(fake_twilio, renderer, token="wrong").notify(
        Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), incident))
    assert result == Permanent("20003: Authenticate")


async def test_invalid_number_is_permanent_with_twilio_message(fake_twilio, renderer, incident):
    fake_twilio.error_next(code=21211, message="The 'To' number +49 is not a valid phone number.")
    result = await notifier(fake_twilio, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), incident))
    assert result == Permanent("21211: The 'To' number +49 is not a valid phone number.")


async def test_rate_limit_is_retryable_with_retry_after(fake_twilio, renderer, incident):
    fake_twilio.rate_limit_next(retry_after=7)
    result = await notifier(fake_twilio, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.VOICE, PHONE), incident))
    assert result == Retryable("429 Too Many Requests", retry_after=7.0)


async def test_server_error_is_retryable(fake_twilio, renderer, incident):
    fake_twilio.fail_next(status=500)
    result = await notifier(fake_twilio, renderer).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), incident))
    assert isinstance(result, Retryable)


async def test_timeout_is_retryable(fake_twilio, renderer, incident):
    fake_twilio.hang_next()
    result = await notifier(fake_twilio, renderer, timeout=0.3).notify(
        Message(MessageKind.TRIGGER, Target(Channel.SMS, PHONE), incident))
    assert isinstance(result, Retryable)
    assert "Timeout" in result.reason


async def test_voice_for_a_digest_is_permanent(fake_twilio, renderer, incident):
    result = await notifier(fake_twilio, renderer).notify(
        Message(MessageKind.DIGEST, Target(Channel.VOICE, PHONE), incidents=(incident,)))
    assert isinstance(result, Permanent)
    assert fake_twilio.requests == []


async def test_contract_violation_is_caught_by_the_fake(fake_twilio):
    # a request without the required To parameter must be flagged, proving the fake checks the contract
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{fake_twilio.url}/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json",
                               data={"From": FROM, "Body": "x"}, auth=(TEST_ACCOUNT_SID, TEST_AUTH_TOKEN))
    assert resp.status_code == 400
    assert any("To" in v for v in fake_twilio.violations)


# --- replies -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    ("ACK T-41", SmsCommand(ReplyVerb.ACK, "T-41")),
    ("ack t-41", SmsCommand(ReplyVerb.ACK, "T-41")),
    ("  Ack   T-41 \n", SmsCommand(ReplyVerb.ACK, "T-41")),
    ("RES 41", SmsCommand(ReplyVerb.RESOLVE, "T-41")),
    ("resolve T41", SmsCommand(ReplyVerb.RESOLVE, "T-41")),
    ("ack T-041.", SmsCommand(ReplyVerb.ACK, "T-41")),
    ("a:41", SmsCommand(ReplyVerb.ACK, "T-41")),
])
def test_sms_replies_are_read_tolerantly(body, expected):
    assert parse_sms_reply(body) == expected


@pytest.mark.parametrize("body", [
    "", "   ", "ACK", "41", "hello there", "DELETE T-41", "ACK X-41", "ACK T-41 T-42",
    "ACK T-", "ACK T-1234567890", "ACK T-41; rm -rf /", "ack\x00 41", "ACK T-٤١", "A" * 1000,
])
def test_junk_replies_are_errors(body):
    result = parse_sms_reply(body)
    assert isinstance(result, SmsReplyError)
    assert result.reason


def test_custom_code_prefix():
    assert parse_sms_reply("ack inc-7", prefix="INC") == SmsCommand(ReplyVerb.ACK, "INC-7")


@pytest.mark.parametrize(("digits", "verb"), [("1", ReplyVerb.ACK), ("2", ReplyVerb.RESOLVE), ("3", None),
                                              ("", None), (None, None), ("11", None)])
def test_keypad_digits(digits, verb):
    assert parse_voice_digits(digits) == verb


def test_gather_twiml_escapes_text():
    xml = voice_gather_twiml("disk <full> & more", "https://t.example/twilio/voice?incident=1&x=2")
    root = ET.fromstring(xml)
    assert root.find("Gather/Say").text == "disk <full> & more"
    assert root.find("Gather").get("action") == "https://t.example/twilio/voice?incident=1&x=2"
    assert root[-1].tag == "Hangup"


def test_result_twiml():
    acked = ET.fromstring(voice_result_twiml("acknowledged"))
    assert [e.tag for e in acked] == ["Say", "Hangup"]
    assert acked[0].text == "Acknowledged. Thank you."
    retry = ET.fromstring(voice_result_twiml("invalid", "de", retry_url="https://t.example/v"))
    assert [e.tag for e in retry] == ["Say", "Redirect"]
    assert retry[1].text == "https://t.example/v"
