"""Escalation scenarios: routing, durable timers, outbox, callbacks and schedules against the fake vendors."""
