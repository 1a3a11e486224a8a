"""Rendering in English and German, escaping per channel, SMS budget, user template overrides."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.incident_view import make_incident
from webhook.notifiers.base import Channel, IncidentState, Message, MessageKind, Severity, Target
from webhook.notifiers.render import Renderer, truncate

SMS = Target(Channel.SMS, "+4915112345678")


@pytest.mark.parametrize(("locale", "expected"), [
    ("en", "[CRIT] T-41 api-gateway 5xx ratio above 5%. Reply ACK T-41 / RES T-41"),
    ("de", "[KRIT] T-41 api-gateway 5xx ratio above 5%. Antwort ACK T-41 / RES T-41"),
])
def test_sms_in_both_languages(renderer, incident, locale, expected):
    assert renderer.sms(Message(MessageKind.TRIGGER, SMS, incident, locale=locale)) == expected


@pytest.mark.parametrize(("locale", "expected"), [("en", "Acknowledged by alice."), ("de", "Bestätigt von alice.")])
def test_ack_sms_says_who(renderer, incident, locale, expected):
    acked = dataclasses.replace(incident, state=IncidentState.ACKNOWLEDGED, acked_by="alice")
    assert renderer.sms(Message(MessageKind.ACK, SMS, acked, locale=locale)).endswith(expected)


@pytest.mark.parametrize("budget", [70, 100, 160])
def test_sms_budget_is_kept(renderer, budget):
    long = make_incident(title="a very long title " * 30)
    text = Renderer(sms_budget=budget).sms(Message(MessageKind.TRIGGER, SMS, long))
    assert len(text) <= budget
    assert text.startswith("[CRIT] T-41 a very")


def test_sms_for_a_storm_counts_what_is_affected(renderer):
    many = tuple(make_incident(code=f"T-{n}") for n in range(3))
    text = renderer.sms(Message(MessageKind.STORM_SUMMARY, SMS, incidents=many))
    assert text == "[STORM] 3 incidents: 3 CRIT. ApiErrorRate 3. svc api-gateway 3. ns prod 3. Details in the console."


@pytest.mark.parametrize("locale", ["en", "de"])
def test_every_kind_renders_on_every_channel_template(renderer, incident, locale):
    for kind in MessageKind:
        if kind in (MessageKind.DIGEST, MessageKind.STORM_SUMMARY):
            msg = Message(kind, SMS, incidents=(incident,), locale=locale)
        else:
            msg = Message(kind, SMS, incident, locale=locale, note="runbook step 2/3 done")
        assert renderer.sms(msg)
        assert renderer.email(msg).html.startswith("<!DOCTYPE html>")
        assert renderer.slack(msg).title
        assert renderer.pagerduty_summary(msg)
        if msg.incident is not None:
            assert renderer.voice(msg)


def test_email_german(renderer, incident):
    mail = renderer.email(Message(MessageKind.TRIGGER, SMS, incident, locale="de"))
    assert "Status: Ausgelöst" in mail.text
    assert 'lang="de"' in mail.html
    assert "Konsole" in mail.html


def test_html_is_escaped_but_plain_text_is_not(renderer):
    hostile = make_incident(title='<b onclick="x">&</b>')
    mail = renderer.email(Message(MessageKind.TRIGGER, SMS, hostile))
    assert '<b onclick="x">&</b>' in mail.text
    assert "&lt;b onclick=&#34;x&#34;&gt;&amp;&lt;/b&gt;" in mail.html


def test_slack_mrkdwn_is_escaped(renderer):
    hostile = make_incident(description="<!everyone> & <http://x|y>", title="<!here>")
    parts = renderer.slack(Message(MessageKind.TRIGGER, SMS, hostile))
    assert "&lt;!everyone&gt; &amp; &lt;http://x|y&gt;" in parts.body
    assert "<!here>" not in parts.fallback


def test_voice_reads_code_as_words(renderer, incident):
    assert renderer.voice(Message(MessageKind.TRIGGER, SMS, incident)).startswith(
        "This is Tocsin. critical incident T 41: api-gateway")


def test_pagerduty_summary_is_capped(renderer):
    long = make_incident(title="x" * 5000, severity=Severity.LOW)
    assert len(renderer.pagerduty_summary(Message(MessageKind.TRIGGER, SMS, long))) == 1024


def test_user_template_directory_wins(tmp_path, incident):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "sms.txt.j2").write_text("PAGE {{ i.code }}: {{ title }}")
    renderer = Renderer(user_dir=tmp_path)
    assert renderer.sms(Message(MessageKind.TRIGGER, SMS, incident)) == "PAGE T-41: api-gateway 5xx ratio above 5%"
    # templates the user did not override still come from the package
    assert renderer.email(Message(MessageKind.TRIGGER, SMS, incident)).subject.startswith("[CRIT] T-41")


def test_user_template_with_a_typo_fails_loudly(tmp_path, incident):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "sms.txt.j2").write_text("{{ i.titel }}")
    with pytest.raises(Exception, match="titel"):
        Renderer(user_dir=tmp_path).sms(Message(MessageKind.TRIGGER, SMS, incident))


def test_message_needs_its_incidents(incident):
    with pytest.raises(ValueError, match="needs an incident"):
        Message(MessageKind.TRIGGER, SMS)
    with pytest.raises(ValueError, match="needs incidents"):
        Message(MessageKind.DIGEST, SMS, incident)


def test_truncate():
    assert truncate("abcdef", 10) == "abcdef"
    assert truncate("abcdefghijkl", 8) == "abcde..."
