"""The text that carries a sign-in code, in the responder's language."""

from __future__ import annotations

from datetime import timedelta

from webhook.notifiers.base import Locale

_SUBJECT = {"en": "Your Tocsin sign-in code", "de": "Ihr Tocsin-Anmeldecode"}
_TEXT = {
    "en": "Your Tocsin sign-in code is {code}. It expires in {minutes} minutes. "
          "If you did not ask for it, ignore this message.",
    "de": "Ihr Tocsin-Anmeldecode lautet {code}. Er ist {minutes} Minuten gültig. "
          "Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.",
}


def code_message(code: str, ttl: timedelta, locale: Locale) -> tuple[str, str]:
    """(subject, text) of the message that carries `code`."""
    minutes = max(1, int(ttl.total_seconds() // 60))
    return _SUBJECT[locale], _TEXT[locale].format(code=code, minutes=minutes)
