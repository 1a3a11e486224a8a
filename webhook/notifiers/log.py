"""The local outbox notifier for set-ups without credentials: a readable log line plus a JSON line per message."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from webhook.notifiers.base import Delivered, DeliveryResult, Message
from webhook.notifiers.render import Renderer

log = logging.getLogger("tocsin.outbox")


class LogNotifier:
    """Delivers every message to the log (and to `path` as JSON lines); never writes routing keys or tokens."""

    def __init__(self, renderer: Renderer, clock: Callable[[], datetime], path: Path | None = None) -> None:
        self._renderer = renderer
        self._clock = clock
        self._path = path
        self._seq = itertools.count(1)

    def record(self, msg: Message) -> dict[str, object]:
        """The JSON line for `msg`: what would have been sent, where, about which incidents."""
        return {
            "at": self._clock().isoformat(),
            "channel": msg.target.channel.value,
            "address": msg.target.address,  # a channel id, number or mailbox; the routing key stays out
            "kind": msg.kind.value,
            "incidents": [i.code for i in msg.all_incidents],
            "locale": msg.locale,
            "text": " ".join(self._renderer.text("sms.txt.j2", msg).split()),
            "note": msg.note,
            "previous_reference": msg.previous_reference,
        }

    async def notify(self, msg: Message) -> DeliveryResult:
        line = self.record(msg)
        reference = f"log:{next(self._seq)}"
        line["reference"] = reference
        codes = ",".join(i.code for i in msg.all_incidents)
        log.info("notify %s %s via %s to %s: %s", msg.kind.value, codes, msg.target.channel.value,
                 msg.target.address, line["text"])
        if self._path is not None:
            await asyncio.to_thread(_append, self._path, json.dumps(line, ensure_ascii=False))
        return Delivered(reference)


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")
