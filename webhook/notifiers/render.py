"""Pure message rendering: Jinja2 templates per channel and locale, user templates first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jinja2

from webhook.notifiers.base import GroupSummary, IncidentView, Locale, Message, MessageKind, Severity
from webhook.notifiers.messages import summarize

#: Short UI strings that are not worth a template each (button labels, state words).
STRINGS: Mapping[Locale, Mapping[str, str]] = {
    "en": {
        "critical": "CRIT", "high": "HIGH", "medium": "MED", "low": "LOW",
        "triggered": "Triggered", "acknowledged": "Acknowledged", "resolved": "Resolved",
        "snoozed": "Snoozed", "ack": "Acknowledge", "resolve": "Resolve", "snooze": "Snooze 1h",
        "runbook": "Runbook", "dashboard": "Dashboard", "console": "Console",
        "approve": "Approve", "reject": "Reject", "approval": "approval needed",
        "voice_prompt": "Press 1 to acknowledge, press 2 to resolve.",
        "voice_acked": "Acknowledged. Thank you.", "voice_resolved": "Resolved. Thank you.",
        "voice_invalid": "Sorry, that key is not valid.", "voice_noinput": "No input received. Goodbye.",
        "voice_refused": "This phone number may not act on incidents. Nothing was changed. Goodbye.",
    },
    "de": {
        "critical": "KRIT", "high": "HOCH", "medium": "MITTEL", "low": "NIEDRIG",
        "triggered": "Ausgelöst", "acknowledged": "Bestätigt", "resolved": "Behoben",
        "snoozed": "Pausiert", "ack": "Bestätigen", "resolve": "Beheben", "snooze": "1 h pausieren",
        "runbook": "Runbook", "dashboard": "Dashboard", "console": "Konsole",
        "approve": "Freigeben", "reject": "Ablehnen", "approval": "Freigabe nötig",
        "voice_prompt": "Drücken Sie 1 zum Bestätigen, 2 zum Beheben.",
        "voice_acked": "Bestätigt. Danke.", "voice_resolved": "Behoben. Danke.",
        "voice_invalid": "Diese Taste ist nicht gültig.", "voice_noinput": "Keine Eingabe. Auf Wiederhören.",
        "voice_refused": "Diese Nummer darf keine Vorfälle bearbeiten. Nichts wurde geändert. Auf Wiederhören.",
    },
}

SEVERITY_EMOJI: Mapping[Severity, str] = {
    Severity.CRITICAL: ":red_circle:", Severity.HIGH: ":large_orange_circle:",
    Severity.MEDIUM: ":large_yellow_circle:", Severity.LOW: ":white_circle:",
}

#: Labels worth showing first; the rest follow alphabetically up to `max_labels`.
KEY_LABELS = ("alertname", "service", "namespace", "team", "cluster", "job", "instance", "pod")


class Top(NamedTuple):
    """How many entries of each breakdown of a storm or digest a template shows (the `top` variable)."""

    alerts: int
    services: int
    namespaces: int


#: What templates show of a storm's counts unless the channel is short of room.
TOP = Top(5, 3, 3)
#: A storm or digest SMS shows the most of its counts that fits, trying these in order (link and totals stay).
SMS_TOPS = (Top(3, 2, 2), Top(2, 1, 1), Top(1, 1, 1), Top(1, 0, 1), Top(1, 0, 0), Top(0, 0, 0))


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class SlackParts:
    """Rendered strings the Slack notifier assembles into Block Kit (JSON is built in Python, not templated)."""

    title: str  # plain_text header
    body: str  # mrkdwn
    context: str  # mrkdwn
    fallback: str  # plain text for notifications and screen readers
    thread: str | None  # mrkdwn thread reply for msg.note


def slack_escape(value: object) -> object:
    """Slack mrkdwn needs &, < and > escaped, or user text could inject links and mentions."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def key_labels(labels: Mapping[str, str], max_labels: int = 8) -> list[tuple[str, str]]:
    first = [k for k in KEY_LABELS if k in labels]
    rest = sorted(k for k in labels if k not in KEY_LABELS and k != "severity")
    return [(k, labels[k]) for k in (first + rest)[:max_labels]]


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ASCII ellipsis (a Unicode one would force UCS-2 in SMS)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 0)].rstrip() + "..."


class Renderer:
    """Renders messages from `<locale>/<name>` templates: the user's directory wins over the packaged one."""

    def __init__(self, user_dir: Path | None = None, sms_budget: int = 160) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if user_dir is not None:
            loaders.append(jinja2.FileSystemLoader(user_dir))
        loaders.append(jinja2.PackageLoader("webhook", "templates"))
        loader = jinja2.ChoiceLoader(loaders)
        common: dict[str, Any] = {
            "loader": loader, "trim_blocks": True, "lstrip_blocks": True,
            "undefined": jinja2.StrictUndefined, "keep_trailing_newline": False,
        }
        self._text = jinja2.Environment(autoescape=False, **common)  # noqa: S701 - plain text, not HTML
        self._html = jinja2.Environment(autoescape=True, **common)
        self._slack = jinja2.Environment(autoescape=False, finalize=slack_escape, **common)  # noqa: S701
        self.sms_budget = sms_budget

    def _render(self, env: jinja2.Environment, name: str, msg: Message, **extra: Any) -> str:
        template = env.get_template(f"{msg.locale}/{name}")
        return template.render({**_context(msg), **extra}).strip()

    def text(self, name: str, msg: Message, **extra: Any) -> str:
        return self._render(self._text, name, msg, **extra)

    def sms(self, msg: Message) -> str:
        """SMS text within `sms_budget` characters: the title gives way, the reply instructions stay."""
        if msg.incident is None:
            return self._sms_summary(msg)
        text = " ".join(self.text("sms.txt.j2", msg).split())
        overflow = len(text) - self.sms_budget
        if overflow > 0 and msg.incident is not None:
            title = truncate(msg.incident.title, max(len(msg.incident.title) - overflow, 8))
            text = " ".join(self.text("sms.txt.j2", msg, title=title).split())
        return truncate(text, self.sms_budget)

    def _sms_summary(self, msg: Message) -> str:
        """A storm or digest by SMS: as many top groups as fit in the budget; totals and the console link stay."""
        text = ""
        for top in SMS_TOPS:
            text = " ".join(self.text("sms.txt.j2", msg, top=top).split())
            if len(text) <= self.sms_budget:
                return text
        return truncate(text, self.sms_budget)

    def voice(self, msg: Message) -> str:
        return " ".join(self.text("voice.txt.j2", msg).split())

    def email(self, msg: Message) -> RenderedEmail:
        subject = " ".join(self.text("email_subject.txt.j2", msg).split())
        return RenderedEmail(
            subject=truncate(subject, 200),
            text=self.text("email.txt.j2", msg) + "\n",
            html=self._render(self._html, "email.html.j2", msg) + "\n",
        )

    def slack(self, msg: Message) -> SlackParts:
        multi = msg.incident is None
        return SlackParts(
            title=truncate(" ".join(self.text("slack_title.txt.j2", msg).split()), 150),
            body=truncate(self._render(self._slack, "slack_summary.md.j2" if multi else "slack_body.md.j2", msg),
                          3000),
            context="" if multi else truncate(self._render(self._slack, "slack_context.md.j2", msg), 2000),
            # chat.postMessage treats `text` as mrkdwn too, so the fallback needs the same escaping
            fallback=str(slack_escape(truncate(" ".join(self.text("sms.txt.j2", msg).split()), 3000))),
            thread=self._render(self._slack, "slack_thread.md.j2", msg) if msg.note else None,
        )

    def pagerduty_summary(self, msg: Message) -> str:
        return truncate(" ".join(self.text("pagerduty_summary.txt.j2", msg).split()), 1024)


def _summary(msg: Message) -> GroupSummary | None:
    """The counts of a storm or digest; a message built without them (tools, tests) counts what it carries."""
    if msg.incident is not None:
        return None
    if msg.summary is not None:
        return msg.summary
    return summarize((v.severity.value, v.labels) for v in msg.incidents)


def _context(msg: Message) -> dict[str, Any]:
    incident: IncidentView | None = msg.incident
    return {
        "msg": msg,
        "kind": msg.kind.value,
        "i": incident,
        "title": incident.title if incident else "",
        "incidents": msg.all_incidents,
        "note": msg.note,
        "t": STRINGS[msg.locale],
        "key_labels": key_labels(incident.labels) if incident else [],
        "emoji": SEVERITY_EMOJI,
        "is_multi": msg.kind in (MessageKind.DIGEST, MessageKind.STORM_SUMMARY),
        "summary": _summary(msg),
        "top": TOP,
    }
