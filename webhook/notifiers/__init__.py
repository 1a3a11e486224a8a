"""Notifiers: one small module per channel behind the one-method Notifier protocol of base.py."""

from webhook.notifiers.base import (
    Channel,
    Delivered,
    DeliveryResult,
    IncidentState,
    IncidentView,
    Locale,
    Message,
    MessageKind,
    Notifier,
    Permanent,
    Retryable,
    Severity,
    Target,
    TimelineEntry,
)

__all__ = [
    "Channel", "Delivered", "DeliveryResult", "IncidentState", "IncidentView", "Locale", "Message",
    "MessageKind", "Notifier", "Permanent", "Retryable", "Severity", "Target", "TimelineEntry",
]
