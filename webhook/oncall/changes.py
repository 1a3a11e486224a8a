"""Overrides and swaps made at run time (stored, so every replica and the escalation see them), merged with the
config's own wherever a schedule is resolved; the rules for who may make them and when.

Who may do what (docs/schedules.md): an override puts its person on call; anyone who may respond may take a shift
themself (override for their own name), and only people with the `schedules` role may put someone else on call.
A swap trades one shift of the requester for one of another person on the same layer: it waits for that person's
consent (`pending`), who accepts or declines it; the requester may cancel it while pending. People with the
`schedules` role may swap anyone's shifts and make the swap `accepted` at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from webhook.config.oncall import (
    OnCallConfig,
    Override,
    Responder,
    Schedule,
    ShiftRef,
    Swap,
    rotation_user,
    shift_slot,
)
from webhook.oncall import repo

#: Longest override; longer changes belong in the config's rotation.
MAX_OVERRIDE = timedelta(days=31)
#: How far in the past an override may start (the form was filled in a few minutes ago).
PAST_SLACK = timedelta(minutes=5)
MAX_COMMENT = 500
SwapAction = Literal["accept", "decline", "cancel"]
_NEXT: dict[SwapAction, str] = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}


class ChangeError(ValueError):
    """The change is not valid (unknown person, bad times, no such shift)."""


class NotAllowed(PermissionError):
    """The actor may not make this change."""


class ChangeNotFound(LookupError):
    pass


class ChangeConflict(Exception):
    """The change is in a state that does not allow this (a decided swap, a deleted override, a taken shift)."""


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    #: Holds the `schedules` role (or an API token with the `schedules` scope).
    manages: bool


def _schedule(oncall: OnCallConfig, name: str) -> Schedule:
    try:
        return oncall.schedule(name)
    except KeyError as exc:
        raise ChangeNotFound(f"no schedule {name!r}") from exc


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["id"], "schedule": row["schedule"], "kind": row["kind"], "state": row["state"],
                           "comment": row["comment"], "created_by": row["created_by"],
                           "created_at": row["created_at"].isoformat(), "decided_by": row["decided_by"],
                           "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None}
    if row["kind"] == "override":
        return {**out, "user": row["user"], "start": row["starts_at"].isoformat(), "end": row["ends_at"].isoformat()}
    return {**out, "layer": row["layer"], "mine": {"user": row["user"], "at": row["mine_at"].isoformat()},
            "theirs": {"user": row["other_user"], "at": row["other_at"].isoformat()}}


# --- merged into the config ----------------------------------------------------------------------------------
def merge(oncall: OnCallConfig, rows: list[dict[str, Any]]) -> OnCallConfig:
    """The on-call config with the stored effective changes added to each schedule's own overrides and swaps."""
    if not rows:
        return oncall
    extra: dict[str, tuple[list[Override], list[Swap]]] = {}
    for r in rows:
        overrides, swaps = extra.setdefault(r["schedule"], ([], []))
        if r["kind"] == "override":
            overrides.append(Override.model_construct(user=r["user"], start=r["starts_at"], end=r["ends_at"]))
        else:
            swaps.append(Swap.model_construct(layer=r["layer"], first=ShiftRef.model_construct(user=r["user"],
                                              at=r["mine_at"]),
                                              second=ShiftRef.model_construct(user=r["other_user"], at=r["other_at"])))
    schedules = tuple(s.model_copy(update={"overrides": (*s.overrides, *extra[s.name][0]),
                                           "swaps": (*s.swaps, *extra[s.name][1])}) if s.name in extra else s
                      for s in oncall.schedules)
    return oncall.model_copy(update={"schedules": schedules})


def effective(conn: Any, oncall: OnCallConfig, since: datetime, until: datetime | None = None) -> OnCallConfig:
    """Config + stored overrides and swaps that end after `since` (and start by `until`): one indexed query, so
    call it once per batch. Resolving who is on call at one instant T needs only since=until=T: the changes
    covering T, usually none or a few, whatever is planned ahead."""
    if not oncall.schedules:
        return oncall
    return merge(oncall, repo.changes(conn, since, until=until))


# --- overrides -----------------------------------------------------------------------------------------------
def add_override(conn: Any, oncall: OnCallConfig, schedule: str, user: str, start: datetime, end: datetime,
                 comment: str, actor: Actor, now: datetime) -> dict[str, Any]:
    _schedule(oncall, schedule)
    if user not in oncall.responder_map():
        raise ChangeError(f"no responder {user!r} (oncall.responders)")
    if user != actor.name and not actor.manages:
        raise NotAllowed(f"{actor.name!r} may only take shifts themself; putting {user!r} on call needs the "
                         "`schedules` role")
    if end <= start:
        raise ChangeError("end must be after start")
    if end - start > MAX_OVERRIDE:
        raise ChangeError(f"an override lasts at most {MAX_OVERRIDE.days} days")
    if start < now - PAST_SLACK:
        raise ChangeError("start is in the past")
    return to_json(repo.insert_change(conn, {
        "schedule": schedule, "kind": "override", "state": "active", "user": user, "starts_at": start,
        "ends_at": end, "comment": comment[:MAX_COMMENT], "created_by": actor.name[:128], "created_at": now}))


def delete_override(conn: Any, schedule: str, change_id: int, actor: Actor, now: datetime) -> None:
    row = repo.get(conn, change_id)
    if row is None or row["kind"] != "override" or row["schedule"] != schedule or row["state"] != "active":
        raise ChangeNotFound(f"no override {change_id} on schedule {schedule!r}")
    if actor.name not in (row["user"], row["created_by"]) and not actor.manages:
        raise NotAllowed(f"{actor.name!r} may delete only their own overrides; others need the `schedules` role")
    if not repo.set_state(conn, change_id, "active", "deleted", actor.name, now):
        raise ChangeNotFound(f"no override {change_id} on schedule {schedule!r}")


# --- swaps ---------------------------------------------------------------------------------------------------
def _slot(schedule: Schedule, layer: str, user: str, at: datetime, now: datetime) -> tuple[int, datetime, datetime]:
    la = schedule.layer(layer)
    slot = shift_slot(schedule, la, at)
    if slot is None or rotation_user(la, slot[0]) != user:
        raise ChangeError(f"{user} has no shift on layer {layer} at {at.isoformat()}")
    if slot[2] <= now:
        raise ChangeError(f"the shift of {user} at {at.isoformat()} is over")
    return slot


def _taken(conn: Any, schedule: Schedule, layer: str, slots: set[int], now: datetime) -> None:
    la = schedule.layer(layer)
    rows = repo.changes(conn, now, ("pending", "accepted"), schedule.name)
    swaps = [(r["mine_at"], r["other_at"]) for r in rows if r["kind"] == "swap" and r["layer"] == layer]
    swaps += [(s.first.at, s.second.at) for s in schedule.swaps if s.layer == layer]
    for pair in swaps:
        for at in pair:
            slot = shift_slot(schedule, la, at)
            if slot is not None and slot[0] in slots:
                raise ChangeConflict(f"the shift at {at.isoformat()} is already part of a swap")


def propose_swap(conn: Any, oncall: OnCallConfig, schedule: str, layer: str, mine: tuple[str | None, datetime],
                 theirs: tuple[str, datetime], comment: str, actor: Actor, now: datetime,
                 accepted: bool = False) -> dict[str, Any]:
    """A swap asked by the actor (`pending`), or by a schedules manager for anyone (`accepted` if asked so)."""
    s = _schedule(oncall, schedule)
    requester = mine[0] or actor.name
    if (requester != actor.name or accepted) and not actor.manages:
        raise NotAllowed("swapping someone else's shift or accepting on their behalf needs the `schedules` role")
    people = oncall.responder_map()
    for user in (requester, theirs[0]):
        if user not in people:
            raise ChangeError(f"no responder {user!r} (oncall.responders)")
    if requester == theirs[0]:
        raise ChangeError("a swap needs two different people")
    if layer not in {la.name for la in s.layers}:
        raise ChangeError(f"schedule {schedule} has no layer {layer!r}")
    a = _slot(s, layer, requester, mine[1], now)
    b = _slot(s, layer, theirs[0], theirs[1], now)
    _taken(conn, s, layer, {a[0], b[0]}, now)
    return to_json(repo.insert_change(conn, {
        "schedule": schedule, "kind": "swap", "state": "accepted" if accepted else "pending", "user": requester,
        "starts_at": min(a[1], b[1]), "ends_at": max(a[2], b[2]), "layer": layer, "mine_at": mine[1],
        "other_user": theirs[0], "other_at": theirs[1], "comment": comment[:MAX_COMMENT],
        "created_by": actor.name[:128], "created_at": now, "decided_by": actor.name[:128] if accepted else None,
        "decided_at": now if accepted else None}))


def decide_swap(conn: Any, change_id: int, action: SwapAction, actor: Actor, now: datetime) -> dict[str, Any]:
    """accept/decline by the other person; cancel by the requester (or whoever created it, or a manager)."""
    row = repo.get(conn, change_id)
    if row is None or row["kind"] != "swap":
        raise ChangeNotFound(f"no swap {change_id}")
    allowed = (actor.name == row["other_user"] if action != "cancel"
               else actor.name in (row["user"], row["created_by"]) or actor.manages)
    if not allowed:
        who = f"only {row['other_user']} may" if action != "cancel" else "only the requester may"
        raise NotAllowed(f"{who} {action} swap {change_id}")
    if row["state"] != "pending":
        raise ChangeConflict(f"swap {change_id} is already {row['state']}")
    if action == "accept" and row["ends_at"] <= now:
        raise ChangeConflict(f"swap {change_id}: the shifts are over")
    if not repo.set_state(conn, change_id, "pending", _NEXT[action], actor.name, now):
        raise ChangeConflict(f"swap {change_id} was decided meanwhile")
    changed = repo.get(conn, change_id)
    assert changed is not None
    return to_json(changed)


def _when(at: str, zone: str) -> str:
    return datetime.fromisoformat(at).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def swap_request_text(swap: dict[str, Any], asked: Responder) -> tuple[str, str]:
    """(subject, text) telling `asked` that a swap waits for their answer, in their language and time zone."""
    mine, theirs = swap["mine"], swap["theirs"]
    a, b = _when(theirs["at"], asked.timezone), _when(mine["at"], asked.timezone)
    if asked.locale == "de":
        return ("Tocsin: Schichttausch angefragt",
                f"{swap['created_by']} bittet um einen Schichttausch im Plan {swap['schedule']} ({swap['layer']}): "
                f"{mine['user']} übernimmt deine Schicht um {a}, du die von {mine['user']} um {b} "
                f"({asked.timezone}). Annehmen oder ablehnen in der Konsole unter Dienstpläne (Tausch #{swap['id']}).")
    return ("Tocsin: shift swap requested",
            f"{swap['created_by']} asks to swap shifts on schedule {swap['schedule']} ({swap['layer']}): "
            f"{mine['user']} takes your shift at {a}, you take {mine['user']}'s at {b} ({asked.timezone}). "
            f"Accept or decline in the console under Schedules (swap #{swap['id']}).")


def swaps_of(conn: Any, user: str, now: datetime) -> list[dict[str, Any]]:
    return [to_json(r) for r in repo.swaps_of(conn, user, now)]


def for_view(conn: Any, oncall: OnCallConfig, since: datetime,
             schedule: str | None = None) -> tuple[OnCallConfig, list[dict[str, Any]]]:
    """The config with the effective changes merged, and the changes to list (effective and pending swaps) that
    end after `since`, from one query."""
    rows = repo.changes(conn, since, repo.LISTED, schedule)
    return merge(oncall, [r for r in rows if r["state"] in repo.EFFECTIVE]), [to_json(r) for r in rows]
