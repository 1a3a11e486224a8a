"""Every Kubernetes call has a request timeout (review finding 12).

The fake API server stops answering (it accepts the connection and reads the request, then hangs, like an
overloaded or partitioned API server). A read and a write each fail with a ClusterError once the read timeout
passes, instead of holding the run, its target and a worker thread for as long as TCP keeps the connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest

from remediator.cluster import ClusterError
from remediator.kube import ClusterAccess, KubeCluster, connect
from tests.fakekube import FakeKube
from tests.fakekube.builders import node

#: Hang guard: far above the read timeout below; reached only when a call has no timeout.
WAIT = 20.0


class Hung:
    """The fake API server, hanging on every request until `released()` ends."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube, self.url, self.release = kube, kube.url, threading.Event()

    def handle(self, method: str, raw_path: str, content_type: str, body: bytes) -> tuple[int, dict[str, object]]:
        self.release.wait()
        return FakeKube.handle(self.kube, method, raw_path, content_type, body)

    @asynccontextmanager
    async def released(self) -> AsyncIterator[None]:
        """Let the server answer again when the block ends: a call without a timeout (the bug) then ends too,
        and the test fails instead of hanging the suite."""
        try:
            yield
        finally:
            self.release.set()


@pytest.fixture
def hung(kube: FakeKube, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hung]:
    node(kube, "n1")
    server = Hung(kube)
    monkeypatch.setattr(kube, "handle", server.handle)
    yield server
    server.release.set()


def calls(cluster: KubeCluster) -> dict[str, Callable[[], Awaitable[object]]]:
    return {"read": lambda: cluster.get_node("n1"),
            "write": lambda: cluster.set_unschedulable("n1", True, dry_run=False)}


@pytest.mark.parametrize("kind", ["read", "write"])
async def test_a_hung_api_server_fails_the_call_with_a_cluster_error(hung: Hung, kind: str) -> None:
    cluster = connect(ClusterAccess(mode="token", host=hung.url, token="t", read_timeout=0.3))
    async with hung.released():
        with pytest.raises(ClusterError, match="API server unreachable") as caught:
            await asyncio.wait_for(calls(cluster)[kind](), WAIT)
    assert not caught.value.retryable


async def test_an_unreachable_api_server_is_a_cluster_error() -> None:
    cluster = connect(ClusterAccess(mode="token", host="http://127.0.0.1:1", token="t", connect_timeout=0.3))
    with pytest.raises(ClusterError, match="API server unreachable"):
        await asyncio.wait_for(cluster.list_nodes(), WAIT)


def test_the_defaults_bound_every_call() -> None:
    access = ClusterAccess()
    assert (access.connect_timeout, access.read_timeout) == (5.0, 30.0)
