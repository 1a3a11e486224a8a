"""E-mail over SMTP (aiosmtplib): multipart plain text + HTML, STARTTLS/implicit TLS and auth configurable."""

from __future__ import annotations

import html
import logging
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from webhook.config.channels import SmtpConfig
from webhook.graphs.followup import AttachFailed
from webhook.graphs.maker import Graph
from webhook.notifiers.base import Delivered, DeliveryResult, Message, Permanent, Retryable
from webhook.notifiers.render import Renderer

log = logging.getLogger(__name__)


def classify_smtp_error(exc: Exception) -> Retryable | Permanent:
    """SMTP's own rule: 4xx replies are transient, 5xx permanent; connection trouble is transient."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return Retryable(text) if codes and all(400 <= c < 500 for c in codes) else Permanent(text)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"{exc.code} {exc.message}"
        return Retryable(text) if 400 <= exc.code < 500 else Permanent(text)
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        return Retryable(f"{type(exc).__name__}: {exc}")
    return Permanent(f"{type(exc).__name__}: {exc}")


class EmailNotifier:
    """One mail per message; updates reference the first mail (In-Reply-To) so clients thread them."""

    def __init__(self, config: SmtpConfig, renderer: Renderer, *, tls_context: ssl.SSLContext | None = None) -> None:
        if config.starttls and config.implicit_tls:
            raise ValueError("choose either starttls or implicit_tls")
        self._config = config
        self._renderer = renderer
        self._tls_context = tls_context

    def build(self, msg: Message) -> EmailMessage:
        rendered = self._renderer.email(msg)
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = msg.target.address
        mail["Subject"] = rendered.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self._config.message_id_domain)
        mail["Auto-Submitted"] = "auto-generated"  # tells vacation responders not to answer
        if msg.previous_reference:
            mail["In-Reply-To"] = msg.previous_reference
            mail["References"] = msg.previous_reference
        mail.set_content(rendered.text)
        mail.add_alternative(rendered.html, subtype="html")
        return mail

    def build_graph(self, reference: str, address: str, graph: Graph) -> EmailMessage:
        """A reply to the page (same thread) with the graph inline: text, and HTML whose <img> shows the PNG
        attached beside it (multipart/related, cid:), which mail clients display without fetching anything."""
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = address
        mail["Subject"] = f"Graph: {graph.title}"
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self._config.message_id_domain)
        mail["Auto-Submitted"] = "auto-generated"
        mail["In-Reply-To"] = reference
        mail["References"] = reference
        cid = make_msgid(domain=self._config.message_id_domain)
        mail.set_content(f"{graph.title}\n\n{graph.alt}\n")
        mail.add_alternative(f"<p><strong>{html.escape(graph.title)}</strong></p>"
                             f'<p><img src="cid:{cid[1:-1]}" alt="{html.escape(graph.alt, quote=True)}" '
                             f'width="800"></p>', subtype="html")
        html_part = mail.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(graph.png, "image", "png", cid=cid, filename=graph.filename)
        return mail

    async def attach_graph(self, reference: str, address: str, graph: Graph) -> None:
        """Send the graph as a reply to the page whose Message-ID is `reference`; raises AttachFailed."""
        result = await self._send(self.build_graph(reference, address, graph))
        if result is not None:
            raise AttachFailed(result.reason, retryable=isinstance(result, Retryable))

    async def _send(self, mail: EmailMessage) -> Retryable | Permanent | None:
        cfg = self._config
        try:
            await aiosmtplib.send(
                mail, hostname=cfg.host, port=cfg.port, username=cfg.username,
                password=cfg.password.get_secret_value() if cfg.password else None,
                start_tls=cfg.starttls, use_tls=cfg.implicit_tls, validate_certs=cfg.validate_certs,
                tls_context=self._tls_context, timeout=cfg.timeout,
            )
        except Exception as exc:  # classified, never raised: the outbox decides what happens next
            result = classify_smtp_error(exc)
            log.warning("smtp delivery failed (%s): %s", result.outcome, result.reason)
            return result
        return None

    async def notify(self, msg: Message) -> DeliveryResult:
        mail = self.build(msg)
        result = await self._send(mail)
        if result is not None:
            return result
        # the first mail's Message-ID is what later updates thread on
        return Delivered(msg.previous_reference or str(mail["Message-ID"]))
