"""One configuration vocabulary: one strict base, one duration grammar for tocsin.yaml and runbooks, one name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import webhook.config
from remediator.durations import parse_duration as runbook_duration
from tests.support.harness import make_config
from webhook.config.escalation import Step
from webhook.config.types import Strict, parse_duration

POLICY = {"escalation": {"policies": [{"name": "p", "steps": [{"after": "500ms", "targets": [{"slack": "#ops"}]},
                                                              {"after": "1w", "targets": [{"slack": "#ops"}]}]}]}}


@pytest.mark.parametrize(("text", "delta"), [
    ("500ms", timedelta(milliseconds=500)), ("1w", timedelta(weeks=1)), ("1h30m", timedelta(minutes=90)),
    ("2d12h", timedelta(days=2, hours=12)), ("0", timedelta(0)), (90, timedelta(seconds=90)),
])
def test_tocsin_yaml_and_runbooks_spell_time_alike(text: object, delta: timedelta) -> None:
    assert parse_duration(text) == runbook_duration(text) == delta


@pytest.mark.parametrize("text", ["1m2h", "30", "-5s", "5 m", "", -1, "1y"])
def test_both_refuse_the_same_spellings(text: object) -> None:
    for parse in (parse_duration, runbook_duration):
        with pytest.raises(ValueError, match="duration"):
            parse(text)


def test_escalation_steps_take_weeks_and_milliseconds_like_the_flap_window(tmp_path: Path) -> None:
    """Before: `1w` and `500ms` worked for incidents.flap.window but were refused for an escalation step."""
    cfg = make_config("sqlite://", tmp_path, incidents={"flap": {"window": "1w"}}, **POLICY)
    assert cfg.incidents.flap.window == timedelta(weeks=1)
    assert [s.after for s in cfg.escalation.policy("p").steps] == [timedelta(milliseconds=500), timedelta(weeks=1)]
    with pytest.raises(ValidationError, match="duration"):
        Step.model_validate({"after": "5 minutes", "targets": [{"slack": "#ops"}]})


def test_every_config_model_shares_the_one_strict_base() -> None:
    models = []
    for mod in pkgutil.iter_modules(webhook.config.__path__, "webhook.config."):
        for _, obj in inspect.getmembers(importlib.import_module(mod.name), inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__.startswith("webhook.config") and obj is not Strict:
                models.append(obj)
    assert len(models) > 20
    assert [m.__name__ for m in models if not issubclass(m, Strict)] == []


def test_log_level_is_a_config_field(tmp_path: Path) -> None:
    assert make_config("sqlite://", tmp_path).server.log_level == "info"
    assert make_config("sqlite://", tmp_path, server={"log_level": "WARNING"}).server.log_level == "warning"
    with pytest.raises(ValidationError, match="log_level"):
        make_config("sqlite://", tmp_path, server={"log_level": "loud"})
