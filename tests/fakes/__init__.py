"""Local fake vendor servers (Slack, Twilio, PagerDuty) that check every request against the vendor contract."""

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.server import FakeServer, Fault, Recorded
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.fakes.twilio import FakeTwilio

__all__ = ["FakePagerDuty", "FakeServer", "FakeSlack", "FakeTwilio", "Fault", "Recorded", "SlackMessage"]
