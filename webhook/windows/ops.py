"""Window changes with their effects, each in the caller's one transaction: the timeline of every incident a
window covers says who set or ended it, and ending a window releases the escalation steps it held at once.

The escalation and remediation sit above this package, so the caller hands their hooks in (`ActionHook`):
ending a window is the action `window_ended` on each covered incident (escalation: held steps are due now).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webhook.incidents import actions
from webhook.incidents.actions import ActionHook
from webhook.incidents.model import NotFound
from webhook.windows import repo
from webhook.windows.model import Window
from webhook.windows.spec import WindowSpec, build, key_matchers, parse_length

#: The timeline kinds written here.
CREATED, ENDED = "window_created", "window_ended"


def _detail(w: Window, **extra: Any) -> dict[str, Any]:
    return {"window": w.id, "comment": w.comment, "matchers": [str(m) for m in w.matchers],
            "schedule": w.schedule(), **extra}


def create(conn: Any, spec: WindowSpec, actor: str, now: datetime, incident_id: int | None = None) -> Window:
    """Store the window; each triggered incident it covers now gets a timeline entry naming the actor."""
    w = repo.create(conn, spec, actor, now, incident_id)
    if w.active(now):
        for iid in repo.open_incidents_covered(conn, w):
            repo.add_event(conn, iid, now, CREATED, actor, _detail(w))
    return w


def end(conn: Any, window_id: int, actor: str, now: datetime, hooks: ActionHook | None) -> tuple[Window, list[int]]:
    """End the window now; steps it held for still-triggered incidents are due at once (they fire on the next
    tick unless another window or a runbook still holds them). Returns the window and those incidents."""
    w = repo.end(conn, window_id, actor, now)
    covered = repo.open_incidents_covered(conn, w)
    for iid in covered:
        repo.add_event(conn, iid, now, ENDED, actor, _detail(w))
        if hooks is not None:
            hooks.on_action(conn, iid, ENDED, actor, now, {"window": w.id})
    return w, covered


def ack_and_silence(conn: Any, incident_id: int, actor: str, now: datetime, duration: str, note: str,
                    hooks: ActionHook | None) -> tuple[dict[str, Any], Window]:
    """Acknowledge the incident and set a window on its key labels for `duration`, in one transaction: later
    incidents of the same key stay quiet too, and when the window ends, those still firing page again."""
    parse_length(duration)  # a bad duration is refused before the ack
    found = repo.incident_labels(conn, incident_id)
    if found is None:
        raise NotFound(incident_id)
    key, labels = found
    matchers = key_matchers(key) or key_matchers({"alertname": labels.get("alertname", "")})
    spec = build(matchers, now, duration=duration, comment=note or f"acknowledged and silenced by {actor}")
    res = actions.act(conn, incident_id, "ack", actor, now, None, note, hooks)
    w = repo.create(conn, spec, actor, now, incident_id)
    repo.add_event(conn, incident_id, now, CREATED, actor, _detail(w))
    return res, w
