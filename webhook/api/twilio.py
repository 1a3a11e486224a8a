"""POST /twilio/sms ("ACK T-41") and POST /twilio/voice (keypad result), verified with X-Twilio-Signature."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from webhook.api.common import NOT_A_RESPONDER_PHONE, TooLarge, act_as, answer, phone_responder, read_capped, refuse
from webhook.notifiers.base import SignatureError
from webhook.notifiers.twilio.signature import verify_twilio_signature
from webhook.notifiers.twilio.twiml import (
    ReplyVerb,
    SmsCommand,
    SmsReplyError,
    VoiceOutcome,
    parse_sms_reply,
    parse_voice_digits,
    sms_reply_twiml,
    voice_result_twiml,
)
from webhook.service import Service
from webhook.store.db import StorageUnavailable

router = APIRouter(tags=["callbacks"])

MAX_FORM_BYTES = 64 * 1024
ACTIONS = {ReplyVerb.ACK: "ack", ReplyVerb.RESOLVE: "resolve"}


class Rejected(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def verified_form(request: Request, svc: Service, path: str) -> dict[str, str]:
    """The form Twilio posted, after checking its signature against the public URL Twilio called."""
    tw = svc.cfg.channels.twilio
    if tw is None:
        raise Rejected(answer(404, {"error": "twilio is not configured"}))
    try:
        body = await read_capped(request, MAX_FORM_BYTES)
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body),
                           max_num_fields=200)
    except TooLarge as exc:
        raise Rejected(answer(413, {"error": "body too large"})) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(answer(400, {"error": "malformed form body"})) from exc
    url = tw.callback_url(path) + (f"?{request.url.query}" if request.url.query else "")
    try:
        verify_twilio_signature(tw.auth_token, url, params, request.headers.get("x-twilio-signature"))
    except SignatureError as exc:
        raise Rejected(answer(403, {"error": exc.reason})) from exc
    return dict(params)


def twiml_message(text: str) -> Response:
    return Response(sms_reply_twiml(text), media_type="application/xml")


async def _refused_sms(svc: Service, number: str, cmd: SmsCommand | SmsReplyError) -> Response:
    """An SMS from a number that is no responder changes nothing; a command in it goes on that incident's timeline."""
    if isinstance(cmd, SmsCommand):
        try:
            await refuse(svc, int(cmd.code.split("-")[1]), ACTIONS[cmd.verb], "sms", number, NOT_A_RESPONDER_PHONE)
        except StorageUnavailable:
            return answer(503, {"error": "storage unavailable"})  # Twilio retries; nothing was changed
        return twiml_message(f"{cmd.code}: not changed, this number is not a Tocsin responder.")
    return twiml_message("This number is not a Tocsin responder.")


@router.post("/twilio/sms", summary="Twilio incoming SMS webhook: replies ACK T-41 / RES T-41")
async def sms(request: Request) -> Response:
    svc: Service = request.app.state.svc
    try:
        form = await verified_form(request, svc, "/twilio/sms")
    except Rejected as r:
        return r.response
    person = phone_responder(svc.cfg, form.get("From", ""))
    cmd = parse_sms_reply(form.get("Body", ""))
    if person is None:
        return await _refused_sms(svc, form.get("From", ""), cmd)
    if isinstance(cmd, SmsReplyError):
        return twiml_message(cmd.reason)
    try:
        outcome = await act_as(svc, int(cmd.code.split("-")[1]), ACTIONS[cmd.verb], person.name, "via sms")
    except StorageUnavailable:
        return answer(503, {"error": "storage unavailable"})  # Twilio retries; nothing was changed
    return twiml_message(f"{cmd.code}: {outcome}")


@router.post("/twilio/voice", summary="Twilio Gather action: 1 acknowledges, 2 resolves (?incident=<id>)")
async def voice(request: Request) -> Response:
    svc: Service = request.app.state.svc
    try:
        form = await verified_form(request, svc, "/twilio/voice")
    except Rejected as r:
        return r.response
    person = phone_responder(svc.cfg, form.get("To", ""))
    locale = person.locale if person else "en"
    verb = parse_voice_digits(form.get("Digits"))
    param = request.query_params.get("incident", "")
    incident = int(param) if param.isascii() and param.isdigit() else None
    if person is None and verb is not None:  # the number called is no responder (any more): refused, and said
        try:
            await refuse(svc, incident, ACTIONS[verb], "voice", form.get("To", ""), NOT_A_RESPONDER_PHONE)
        except StorageUnavailable:
            return answer(503, {"error": "storage unavailable"})
        return Response(voice_result_twiml("refused", locale), media_type="application/xml")
    if person is None or verb is None or incident is None:
        outcome: VoiceOutcome = "no_input" if not form.get("Digits") else "invalid"
        return Response(voice_result_twiml(outcome, locale), media_type="application/xml")
    try:
        state = await act_as(svc, incident, ACTIONS[verb], person.name, "via voice")
    except StorageUnavailable:
        return answer(503, {"error": "storage unavailable"})
    result: VoiceOutcome = "acknowledged" if state == "acknowledged" else "resolved" if state == "resolved" \
        else "invalid"
    return Response(voice_result_twiml(result, locale), media_type="application/xml")
