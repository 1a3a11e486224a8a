"""iCalendar export of a schedule's shifts (subscribe from any calendar app)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from icalendar import Calendar, Event

from webhook.config.oncall import Schedule
from webhook.oncall.schedule import Shift, shifts


def _uid(schedule: Schedule, shift: Shift) -> str:
    key = f"{schedule.name}|{shift.source}|{shift.user}|{shift.start.astimezone(UTC).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@tocsin"


def to_ical(schedule: Schedule, start: datetime, end: datetime, stamp: datetime | None = None) -> bytes:
    """VCALENDAR with one VEVENT per shift; UIDs depend on the shift only, so subscriptions update cleanly."""
    cal = Calendar()
    cal.add("prodid", "-//Tocsin//On-call schedules//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"On call: {schedule.name}")
    cal.add("x-wr-timezone", schedule.timezone)
    for shift in shifts(schedule, start, end):
        event = Event()
        event.add("uid", _uid(schedule, shift))
        event.add("dtstamp", (stamp or start).astimezone(UTC))
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("summary", f"On call: {shift.user} ({schedule.name})")
        event.add("description", f"Schedule {schedule.name}, {shift.source}")
        cal.add_component(event)
    return bytes(cal.to_ical())
