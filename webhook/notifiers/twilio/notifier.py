"""Twilio: SMS with a short incident code and voice calls with a keypad Gather, sent through the twilio SDK."""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from pydantic import SecretStr
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from webhook.notifiers.base import (
    Channel,
    Delivered,
    DeliveryResult,
    Message,
    MessageKind,
    Permanent,
    Retryable,
    parse_retry_after,
)
from webhook.notifiers.render import Renderer
from webhook.notifiers.twilio.twiml import voice_gather_twiml, voice_say_twiml

log = logging.getLogger(__name__)


class _Throttled(Exception):
    """Raised by the HTTP seam on 429: the SDK's exception drops the Retry-After header we must honour."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_after = retry_after


class HttpTwilioClient(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's HTTP seam on aiohttp: requests go to `base_url` (Twilio or a local fake), nothing is retried.

    The SDK builds absolute https://api.twilio.com URLs; pointing it elsewhere is only possible here, which
    is why Tocsin does not use the SDK's own client. The SDK still owns parameter names, auth and errors.
    With `session` (long-lived, the caller closes it) connections are kept alive between messages; without,
    each request opens and closes its own.
    """

    def __init__(self, base_url: str, timeout: float, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(logger=log, is_async=True, timeout=timeout)
        self._base = urlsplit(base_url)
        self._session = session

    def _rebase(self, url: str) -> str:
        parts = urlsplit(url)
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,  # noqa: ASYNC109 - SDK signature
                      allow_redirects: bool = False) -> TwilioResponse:
        if self._session is not None:
            return await self._request(self._session, method, url, params, data, headers, auth, timeout,
                                       allow_redirects)
        async with aiohttp.ClientSession() as session:
            return await self._request(session, method, url, params, data, headers, auth, timeout, allow_redirects)

    async def _request(self, session: aiohttp.ClientSession, method: str, url: str, params: dict[str, object] | None,
                       data: dict[str, object] | None, headers: dict[str, str] | None, auth: tuple[str, str] | None,
                       timeout: float | None, allow_redirects: bool) -> TwilioResponse:  # noqa: ASYNC109
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        async with session.request(
                method, self._rebase(url), params={k: str(v) for k, v in (params or {}).items() if v is not None},
                data={k: str(v) for k, v in (data or {}).items() if v is not None}, headers=headers,
                allow_redirects=allow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout)) as resp:
            text = await resp.text()
            if resp.status == 429:
                raise _Throttled(parse_retry_after(resp.headers.get("Retry-After")))
            return TwilioResponse(resp.status, text, dict(resp.headers))


def classify_twilio_error(exc: Exception) -> Retryable | Permanent:
    if isinstance(exc, _Throttled):
        return Retryable("429 Too Many Requests", exc.retry_after)
    if isinstance(exc, TwilioRestException):
        # the SDK prepends its own words to the vendor's message; keep Twilio's text only
        text = str(exc.msg).removeprefix("Unable to create record: ")
        reason = f"{exc.code}: {text}" if exc.code else text
        return Retryable(reason) if int(exc.status) >= 500 else Permanent(reason)
    if isinstance(exc, aiohttp.ClientError | TimeoutError):  # timeouts, refused connections, resets
        return Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return Permanent(f"{type(exc).__name__}: {exc}")


class TwilioNotifier:
    """Sends `Channel.SMS` targets a text and calls `Channel.VOICE` targets (E.164 numbers in `address`).

    `voice_action_url` is the public URL of Tocsin's `POST /twilio/voice`; the pressed key is posted there
    with `?incident=<id>`. Pass `session` to keep connections alive between messages (the caller closes it).
    """

    def __init__(self, account_sid: str, auth_token: SecretStr, from_number: str, renderer: Renderer, *,
                 voice_action_url: str, base_url: str = "https://api.twilio.com", timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._client = Client(
            account_sid, auth_token.get_secret_value(), account_sid,
            http_client=HttpTwilioClient(base_url, timeout, session),
            # the SDK falls back to os.environ for an empty mapping; a non-empty one keeps it out of the env
            environment={"TOCSIN": "1"},
        )
        self._from = from_number
        self._renderer = renderer
        self._voice_action_url = voice_action_url

    async def notify(self, msg: Message) -> DeliveryResult:
        try:
            if msg.target.channel is Channel.VOICE:
                return await self._call(msg)
            if msg.target.channel is Channel.SMS:
                return await self._sms(msg)
        except Exception as exc:  # classified, never raised: the outbox decides what happens next
            result = classify_twilio_error(exc)
            log.warning("twilio delivery failed (%s): %s", result.outcome, result.reason)
            return result
        return Permanent(f"twilio cannot deliver to channel {msg.target.channel}")

    async def _sms(self, msg: Message) -> DeliveryResult:
        sent = await self._client.messages.create_async(to=msg.target.address, from_=self._from,
                                                        body=self._renderer.sms(msg))
        return Delivered(str(sent.sid))

    async def _call(self, msg: Message) -> DeliveryResult:
        if msg.kind is MessageKind.STORM_SUMMARY:  # read out, no keys: it stands for many incidents
            call = await self._client.calls.create_async(to=msg.target.address, from_=self._from,
                                                         twiml=voice_say_twiml(self._renderer.voice(msg), msg.locale))
            return Delivered(str(call.sid))
        if msg.incident is None:
            return Permanent("voice calls are made for one incident, not for digests")
        action = f"{self._voice_action_url}?{urlencode({'incident': msg.incident.id})}"
        twiml = voice_gather_twiml(self._renderer.voice(msg), action, msg.locale)
        call = await self._client.calls.create_async(to=msg.target.address, from_=self._from, twiml=twiml)
        return Delivered(str(call.sid))
