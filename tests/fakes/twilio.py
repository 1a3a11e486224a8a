"""Fake Twilio REST API 2010-04-01 (Messages and Calls create) checked against Twilio's OpenAPI contract."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.contracts import check_openapi
from tests.fakes.server import FakeServer, Fault, Recorded

CONTRACT = "twilio-messages-calls.openapi.json"
HOST = "https://api.twilio.com"
MAX_BODY = 1600  # characters Twilio accepts in one message body (error 21617 beyond)

TEST_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
TEST_AUTH_TOKEN = "test-auth-token-0123456789"


@dataclass
class TwilioRecord:
    sid: str
    to: str
    from_: str
    body: str | None = None
    twiml: str | None = None
    url: str | None = None


class FakeTwilio(FakeServer):
    """Answers like Twilio: 201 with a sid, 401/400 with Twilio's error document, 429 when told to."""

    name = "twilio"

    def __init__(self, account_sid: str = TEST_ACCOUNT_SID, auth_token: str = TEST_AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[TwilioRecord] = []
        self.calls: list[TwilioRecord] = []
        self._sids = itertools.count(1)

    def routes(self) -> list[Route]:
        return [
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self.messages_create, methods=["POST"]),
            Route("/2010-04-01/Accounts/{sid}/Calls.json", self.calls_create, methods=["POST"]),
        ]

    def reset_state(self) -> None:
        self.messages.clear()
        self.calls.clear()

    def rate_limit_next(self, times: int = 1, retry_after: int = 5) -> None:
        body = {"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 429}
        self.inject(Fault(429, body, {"Retry-After": str(retry_after)}), times)

    def error_next(self, code: int = 21211, message: str = "The 'To' number is not a valid phone number.",
                   status: int = 400, times: int = 1) -> None:
        self.inject(Fault(status, {"code": code, "message": message, "more_info": "", "status": status}), times)

    async def messages_create(self, request: Request) -> Response:
        return await self._create(request, "SM", self.messages)

    async def calls_create(self, request: Request) -> Response:
        return await self._create(request, "CA", self.calls)

    async def _create(self, request: Request, prefix: str, store: list[TwilioRecord]) -> Response:
        rec = await self.record(request)
        problems = check_openapi(CONTRACT, HOST, rec)
        if problems:
            for p in problems:
                self.violation(p)
            return _error(400, 20001, "; ".join(problems))
        faulty = await self.misbehave()
        if faulty is not None:
            return faulty
        if not self._authorized(rec) or request.path_params["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        body = rec.param("Body")
        if body is not None and len(body) > MAX_BODY:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        sid = f"{prefix}{next(self._sids):032x}"
        store.append(TwilioRecord(sid, rec.param("To"), rec.param("From"), body, rec.param("Twiml"),
                                  rec.param("Url")))
        return JSONResponse({"sid": sid, "account_sid": self.account_sid, "status": "queued",
                             "to": rec.param("To"), "from": rec.param("From"), "body": body,
                             "api_version": "2010-04-01"}, status_code=201)

    def _authorized(self, rec: Recorded) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return rec.headers.get("authorization") == f"Basic {expected}"


def _error(status: int, code: int, message: str) -> Response:
    return JSONResponse({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status)
