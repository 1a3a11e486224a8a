"""Fixtures for the notifier tests: a sample incident and the renderer (the fake vendors come from the plugin)."""

from __future__ import annotations

import pytest

from tests.support.incident_view import make_incident
from webhook.notifiers.base import IncidentView
from webhook.notifiers.render import Renderer


@pytest.fixture
def incident() -> IncidentView:
    return make_incident()


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()
