"""Twilio callbacks: parse SMS replies ("ACK T-41") and keypad digits, build the voice TwiML documents."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

from webhook.notifiers.base import Locale
from webhook.notifiers.render import STRINGS

VOICE_LANGUAGE: dict[Locale, str] = {"en": "en-US", "de": "de-DE"}
MAX_SMS_REPLY = 320


class ReplyVerb(enum.StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"


class SmsCommand(NamedTuple):
    verb: ReplyVerb
    code: str  # normalised, e.g. "T-41"


@dataclass(frozen=True, slots=True)
class SmsReplyError:
    """The reply is not a command; `reason` is safe to send back to the person who texted."""

    reason: str


_VERBS = {"ack": ReplyVerb.ACK, "acknowledge": ReplyVerb.ACK, "a": ReplyVerb.ACK, "ok": ReplyVerb.ACK,
          "res": ReplyVerb.RESOLVE, "resolve": ReplyVerb.RESOLVE, "r": ReplyVerb.RESOLVE}
_REPLY = re.compile(r"^(?P<verb>[a-z]+)[ :#]*(?P<prefix>[a-z]{1,3})?[ -]*(?P<number>[0-9]{1,9})[ .!]*$", re.ASCII)


def parse_sms_reply(body: str, prefix: str = "T") -> SmsCommand | SmsReplyError:
    """Read "ACK T-41", "ack t-41", " res 41 ", "resolve T41"; anything else is an SmsReplyError."""
    if len(body) > MAX_SMS_REPLY:
        return SmsReplyError("reply too long")
    text = " ".join(body.split()).lower()
    match = _REPLY.match(text)
    if match is None:
        return SmsReplyError("expected e.g. ACK T-41 or RES T-41")
    verb = _VERBS.get(match["verb"])
    if verb is None:
        return SmsReplyError(f"unknown command {match['verb'][:12]!r}; use ACK or RES")
    if match["prefix"] and match["prefix"] != prefix.lower():
        return SmsReplyError(f"unknown incident code prefix; codes look like {prefix}-41")
    return SmsCommand(verb, f"{prefix}-{int(match['number'])}")


def parse_voice_digits(digits: str | None) -> ReplyVerb | None:
    """Keypad: 1 acknowledges, 2 resolves; anything else is no command."""
    return {"1": ReplyVerb.ACK, "2": ReplyVerb.RESOLVE}.get((digits or "").strip())


def voice_gather_twiml(text: str, action_url: str, locale: Locale = "en", repeats: int = 2) -> str:
    """Read `text`, then ask for one key, posted to `action_url`; repeated so a sleepy person catches it."""
    strings = STRINGS[locale]
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=8)
    for _ in range(repeats):
        gather.say(text, language=VOICE_LANGUAGE[locale])
        gather.say(strings["voice_prompt"], language=VOICE_LANGUAGE[locale])
    response.append(gather)
    response.say(strings["voice_noinput"], language=VOICE_LANGUAGE[locale])
    response.hangup()
    return str(response.to_xml())


def voice_say_twiml(text: str, locale: Locale = "en", repeats: int = 2) -> str:
    """Read `text` and hang up: a storm summary has no single incident a key press could act on."""
    response = VoiceResponse()
    for _ in range(repeats):
        response.say(text, language=VOICE_LANGUAGE[locale])
    response.hangup()
    return str(response.to_xml())


VoiceOutcome = Literal["acknowledged", "resolved", "invalid", "no_input", "refused"]


def voice_result_twiml(outcome: VoiceOutcome, locale: Locale = "en", retry_url: str | None = None) -> str:
    """What the caller hears after pressing a key; an invalid key goes back to `retry_url` when given."""
    strings = STRINGS[locale]
    key = {"acknowledged": "voice_acked", "resolved": "voice_resolved", "invalid": "voice_invalid",
           "no_input": "voice_noinput", "refused": "voice_refused"}[outcome]
    response = VoiceResponse()
    response.say(strings[key], language=VOICE_LANGUAGE[locale])
    if outcome == "invalid" and retry_url:
        response.redirect(retry_url, method="POST")
    else:
        response.hangup()
    return str(response.to_xml())


def sms_reply_twiml(text: str) -> str:
    """TwiML answering an incoming SMS with one message."""
    reply = MessagingResponse()
    reply.message(text)
    return str(reply.to_xml())
