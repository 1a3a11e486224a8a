"""E-mail against a real aiosmtpd server: plain relay, STARTTLS + AUTH with a throw-away CA, failures."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from tests.support.incident_view import make_incident
from tests.support.procs import free_port
from tests.support.smtp import Inbox
from webhook.config.channels import SmtpConfig
from webhook.notifiers.base import Channel, Delivered, Message, MessageKind, Permanent, Retryable, Severity, Target
from webhook.notifiers.email import EmailNotifier
from webhook.notifiers.render import Renderer

TO = Target(Channel.EMAIL, "oncall@example.com")


@pytest.fixture
def tls_smtp() -> Iterator[tuple[Inbox, int, ssl.SSLContext]]:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"tocsin" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=server_ctx, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True, auth_required=True)
    controller.start()
    try:
        yield inbox, port, client_ctx
    finally:
        controller.stop()


def plain_config(port: int, **changes: object) -> SmtpConfig:
    base: dict[str, object] = {"host": "127.0.0.1", "port": port, "sender": "Tocsin <tocsin@example.com>",
                               "starttls": False, "timeout": 5}
    return SmtpConfig(**{**base, **changes})  # type: ignore[arg-type]


async def test_mail_has_plain_and_html_parts(smtp, renderer, incident):
    inbox, port = smtp
    result = await EmailNotifier(plain_config(port), renderer).notify(Message(MessageKind.TRIGGER, TO, incident))

    assert isinstance(result, Delivered)
    [mail] = inbox.mails
    assert mail["Message-ID"] == result.reference
    assert mail["Subject"] == "[CRIT] T-41 api-gateway 5xx ratio above 5%"
    assert mail["To"] == "oncall@example.com"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Runbook: https://runbooks.example.com/api-errors" in plain
    assert '<a href="https://runbooks.example.com/api-errors">Runbook</a>' in html


async def test_html_part_escapes_alert_text(smtp, renderer):
    inbox, port = smtp
    hostile = make_incident(title="<script>alert(1)</script>", description="<img src=x onerror=y>")
    await EmailNotifier(plain_config(port), renderer).notify(Message(MessageKind.TRIGGER, TO, hostile))
    html = inbox.mails[0].get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;img src=x onerror=y&gt;" in html


async def test_update_threads_on_the_first_mail(smtp, renderer, incident):
    inbox, port = smtp
    notifier = EmailNotifier(plain_config(port), renderer)
    first = await notifier.notify(Message(MessageKind.TRIGGER, TO, incident))
    assert isinstance(first, Delivered)
    second = await notifier.notify(Message(MessageKind.RESOLVE, TO, incident, previous_reference=first.reference))
    assert second == first
    assert inbox.mails[1]["In-Reply-To"] == first.reference


async def test_low_severity_digest_lists_every_incident_in_one_mail(smtp, renderer):
    inbox, port = smtp
    lows = tuple(make_incident(id=str(n), code=f"T-{n}", title=f"disk {n} filling", severity=Severity.LOW)
                 for n in range(12))
    await EmailNotifier(plain_config(port), renderer).notify(
        Message(MessageKind.DIGEST, TO, incidents=lows, locale="de"))
    [mail] = inbox.mails
    assert mail["Subject"] == "[Tocsin] Übersicht: 12 Vorfälle"
    plain = mail.get_body(("plain",)).get_content()
    assert all(f"T-{n} disk {n} filling" in plain for n in range(12))
    assert mail.get_body(("html",)).get_content().count("<tr>") == 13


async def test_starttls_and_auth(tls_smtp, renderer, incident):
    inbox, port, client_ctx = tls_smtp
    config = plain_config(port, starttls=True, username="tocsin", password=SecretStr("s3cret"))
    result = await EmailNotifier(config, renderer, tls_context=client_ctx).notify(
        Message(MessageKind.TRIGGER, TO, incident))
    assert isinstance(result, Delivered)
    assert len(inbox.mails) == 1


async def test_wrong_password_is_permanent(tls_smtp, renderer, incident):
    inbox, port, client_ctx = tls_smtp
    config = plain_config(port, starttls=True, username="tocsin", password=SecretStr("wrong"))
    result = await EmailNotifier(config, renderer, tls_context=client_ctx).notify(
        Message(MessageKind.TRIGGER, TO, incident))
    assert isinstance(result, Permanent)
    assert result.reason.startswith("535")
    assert "wrong" not in result.reason
    assert inbox.mails == []


async def test_untrusted_certificate_is_retryable_not_silently_accepted(tls_smtp, renderer, incident):
    inbox, port, _ = tls_smtp
    config = plain_config(port, starttls=True, username="tocsin", password=SecretStr("s3cret"))
    result = await EmailNotifier(config, renderer).notify(Message(MessageKind.TRIGGER, TO, incident))
    assert isinstance(result, Retryable)
    assert inbox.mails == []


async def test_refused_recipient_5xx_is_permanent_4xx_retryable(smtp, renderer, incident):
    inbox, port = smtp
    notifier = EmailNotifier(plain_config(port), renderer)
    inbox.refuse = "550 5.1.1 No such user"
    assert await notifier.notify(Message(MessageKind.TRIGGER, TO, incident)) == Permanent("550 5.1.1 No such user")
    inbox.refuse = "451 4.3.0 Try again later"
    assert isinstance(await notifier.notify(Message(MessageKind.TRIGGER, TO, incident)), Retryable)


async def test_unreachable_relay_is_retryable(renderer, incident):
    notifier = EmailNotifier(plain_config(free_port()), renderer)
    result = await notifier.notify(Message(MessageKind.TRIGGER, TO, incident))
    assert isinstance(result, Retryable)


def test_starttls_and_implicit_tls_exclude_each_other():
    with pytest.raises(ValueError, match="either"):
        EmailNotifier(plain_config(25, starttls=True, implicit_tls=True), Renderer())


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="extra"):
        plain_config(25, tls="yes")
