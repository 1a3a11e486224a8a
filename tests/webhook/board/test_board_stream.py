"""The live board's stream: changes arrive while connected, resume with Last-Event-ID, slow clients reset, auth,
the per-process limit, clean ends; a change committed by another replica on PostgreSQL reaches the stream."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType

import pytest
from pydantic import ValidationError

from tests.support.clock import FakeClock
from tests.support.harness import WEBHOOK_TOKEN, Harness, make_config, start_harness
from tests.support.payloads import alert, payload
from tests.webhook.board.sse import AUTH, BOUND, served, stream
from webhook.api.stream import _events, closed_on_exit_signal
from webhook.board.hub import RESET, Board, Change, StreamSettings
from webhook.board.repo import add_note
from webhook.incidents import actions
from webhook.store.db import Database

CONSOLE = {"stream_poll": "50ms", "stream_heartbeat": "200ms", "stream_limit": 2, "stream_queue": 10}


async def _harness(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in start_harness(make_config(db_url, tmp_path, console=CONSOLE), FakeClock()):
        yield h


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in _harness(f"sqlite:///{tmp_path / 'tocsin.db'}", tmp_path):
        yield h


async def _open(h: Harness, namespace: str) -> int:
    assert (await h.post_webhook(payload(alert(namespace=namespace)))).status_code == 200
    return int((await h.api("GET", "/api/v1/incidents")).json()["incidents"][0]["id"])


async def _drained(board: Board) -> None:
    for _ in range(int(BOUND / 0.02)):  # the server notices the client left (bounded poll)
        if not board.streams:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{board.streams} streams still open")


async def test_an_incident_opened_and_acknowledged_while_connected_arrives(live: Harness) -> None:
    async with served(live) as base, stream(base) as s:
        ready = await s.next("ready")
        iid = await _open(live, namespace="shop")
        opened = await s.next("incident")
        assert opened.data["id"] == iid and opened.data["state"] == "triggered"
        assert opened.id is not None and ready.id is not None and opened.id > ready.id
        listed = (await live.api("GET", "/api/v1/incidents")).json()["incidents"][0]
        assert opened.data == listed  # the page upserts it as the list shows it
        assert (await live.api("POST", f"/api/v1/incidents/{iid}/ack")).status_code == 200
        acked = await s.next("incident")
        assert acked.data["state"] == "acknowledged" and acked.data["acked_by"] == "alice"
        assert acked.id is not None and acked.id > opened.id
        assert (await s.next("ping")).data == {}  # heartbeat while nothing changes
    await _drained(live.app.state.board)  # the client went away: its queue is gone, the poller stops
    assert live.app.state.board._task is None


async def test_last_event_id_resumes_after_it_and_resets_when_unknown(live: Harness) -> None:
    async with served(live) as base:
        async with stream(base) as s:
            marker = (await s.next("ready")).id
        first = await _open(live, namespace="a")
        second = await _open(live, namespace="b")
        async with stream(base, {"Last-Event-ID": str(marker)}) as s:
            await s.next("ready")
            got = [(await s.next("incident")).data["id"], (await s.next("incident")).data["id"]]
            assert got == [first, second]
        for bad in ("999999999", "not-a-number", "-5"):
            async with stream(base, {"Last-Event-ID": bad}) as s:
                reset = await s.next()
                assert reset.event == "reset" and reset.id == live.app.state.board.cursor  # no reconnect loop
                assert await s.ended()
        listed = (await live.api("GET", "/api/v1/incidents")).json()  # the page loads the list, then connects
        third = await _open(live, namespace="c")  # a change in between
        async with stream(base, params={"after": str(listed["marker"])}) as s:
            assert (await s.next("incident")).data["id"] == third


async def test_unauthenticated_401_over_the_limit_503_and_shutdown_ends_streams(live: Harness) -> None:
    assert (await live.client.get("/api/v1/stream")).status_code == 401
    r = await live.client.get("/api/v1/stream", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    assert r.status_code == 401
    long_id = await live.client.get("/api/v1/stream", headers={**AUTH, "Last-Event-ID": "9" * 100})
    assert long_id.status_code == 422
    assert (await live.client.post("/api/v1/stream", headers=AUTH)).status_code == 405
    async with served(live) as base, stream(base) as one, stream(base) as two:
        await one.next("ready")
        await two.next("ready")
        r = await live.api("GET", "/api/v1/stream")
        assert r.status_code == 503 and "stream" in r.json()["detail"] and r.headers["retry-after"] == "30"
        live.app.state.board.close()  # shutdown: open streams end, no new one opens
        assert await one.ended() and await two.ended()
        assert (await live.api("GET", "/api/v1/stream")).status_code == 503


async def test_a_slow_client_gets_reset_and_is_dropped(live: Harness) -> None:
    board: Board = live.app.state.board
    sub = await board.subscribe()
    try:
        for i in range(board.settings.queue + 1):  # one more than its queue holds, none read
            board.publish(Change(i + 1, {"id": i}))
        assert sub.dropped and sub.queue.qsize() == 1 and sub.queue.get_nowait() is RESET
        sub.queue.put_nowait(RESET)
        frames = [f async for f in _events(board, sub, board.cursor, [], False)]
        assert b"\nevent: reset\n" in frames[-1]
    finally:
        board.unsubscribe(sub)
    assert board.streams == 0


def test_exit_signals_end_the_streams_then_do_what_they_did(tmp_path: Path) -> None:
    seen: list[int] = []

    def before(sig: int, _frame: FrameType | None) -> None:
        seen.append(sig)

    async def main() -> None:
        db = Database.from_url(f"sqlite:///{tmp_path / 'x.db'}")
        board = Board(db, StreamSettings())
        try:
            with closed_on_exit_signal(board):
                signal.raise_signal(signal.SIGTERM)
                await asyncio.sleep(0)  # the handler asked the loop to close the board
                await asyncio.sleep(0)
                assert board._closed
            assert signal.getsignal(signal.SIGTERM) is before  # put back
        finally:
            db.close()

    old = signal.signal(signal.SIGTERM, before)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, old)
    assert seen == [signal.SIGTERM]


async def test_a_change_committed_by_another_replica_reaches_the_stream(fresh_pg_url: str, tmp_path: Path) -> None:
    async for h in _harness(fresh_pg_url, tmp_path):
        quiet = await _open(h, namespace="quiet")
        iid = await _open(h, namespace="pg")
        other = Database.from_url(fresh_pg_url)  # a second replica: its own engine, its own connections
        try:
            async with served(h) as base, stream(base) as s:
                await s.next("ready")
                with other.engine.connect() as slow:  # a transaction that took its id first and commits last
                    slow.begin()
                    early = add_note(slow, quiet, "carol", "slow", h.clock())
                    await other.write(actions.act, iid, "ack", "bob", h.clock())
                    ev = await s.next("incident")
                    assert ev.data["id"] == iid and ev.data["state"] == "acknowledged" and ev.data["acked_by"] == "bob"
                    assert ev.id is not None and ev.id > early
                    slow.commit()
                late = await s.next("incident")  # the skipped id is read again once committed
                assert late.id == early and late.data["id"] == quiet
        finally:
            other.close()


def test_stream_settings_are_bounded(tmp_path: Path) -> None:
    for bad in ({"stream_poll": "10ms"}, {"stream_limit": 0}, {"stream_queue": 5}, {"stream_heartbeat": "1h"}):
        with pytest.raises(ValidationError):
            make_config("sqlite://", tmp_path, console=bad)


