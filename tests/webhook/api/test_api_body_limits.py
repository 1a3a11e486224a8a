"""Review finding 10: API request bodies are bounded, and an unauthenticated request is refused before its
body is read (FastAPI reads a route's body before the token dependency runs)."""

from __future__ import annotations

from typing import Any

from tests.support.harness import API_TOKEN, Harness
from tests.support.payloads import alert, payload
from webhook.app import build_asgi

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def _raw_post(harness: Harness, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> Any:
    """Drive the ASGI app directly, counting how much of the body it read."""
    read, sent = [0], []
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        read[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": headers, "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
             "root_path": ""}
    await build_asgi(harness.app)(scope, receive, send)
    return sent[0]["status"], read[0]


async def test_an_unauthenticated_body_is_refused_unread(harness: Harness) -> None:
    chunks = [b"x" * 65536] * 100  # 6.4 MiB offered
    status, read = await _raw_post(harness, "/api/v1/incidents/1/ack", chunks, [(b"content-type", b"application/json")])
    assert (status, read) == (401, 0)


async def test_a_declared_oversized_body_is_refused_unread(harness: Harness) -> None:
    size = harness.cfg.server.max_api_body_bytes + 1
    status, read = await _raw_post(harness, "/api/v1/incidents/1/ack", [b"{" * size],
                                   [(b"authorization", AUTH["Authorization"].encode()),
                                    (b"content-length", str(size).encode())])
    assert (status, read) == (413, 0)


async def test_a_streamed_oversized_body_stops_at_the_limit(harness: Harness) -> None:
    limit = harness.cfg.server.max_api_body_bytes
    status, read = await _raw_post(harness, "/api/v1/incidents/1/ack", [b" " * 16384] * 100,
                                   [(b"authorization", AUTH["Authorization"].encode())])
    assert status == 413 and limit < read <= limit + 16384


async def test_bodies_within_the_limit_reach_the_api(harness: Harness) -> None:
    assert (await harness.post_webhook(payload(alert()))).status_code == 200
    [inc] = (await harness.api("GET", "/api/v1/incidents")).json()["incidents"]
    r = await harness.api("POST", f"/api/v1/incidents/{inc['id']}/snooze", json={"duration": "1h", "note": "n"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "snoozed"
