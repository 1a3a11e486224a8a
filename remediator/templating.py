"""Sandboxed rendering of runbook templates: alert labels go in only as values, checked by name rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from remediator.names import NameRule, name_problem

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _promql_literal(value: object) -> object:
    """Escape every interpolated value so it cannot leave a PromQL string literal."""
    if value is None:
        return ""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("'", "\\'")


_PROMQL_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                            finalize=_promql_literal)


def _url_component(value: object) -> object:
    """Percent-encode every interpolated value, '/', '?', '#', '&', '=' and '%' included: a label value stays
    inside the one path segment or query value the runbook put it in."""
    return "" if value is None else quote(str(value), safe="")


_URL_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_url_component)


class TemplateRefused(Exception):
    """A template could not be rendered, or its result is not an acceptable value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def is_template(text: str) -> bool:
    """True when text contains Jinja2 syntax."""
    return "{{" in text or "{%" in text


def check_syntax(text: str) -> None:
    """Raise ValueError when text is not a valid template (used at load time)."""
    try:
        _ENV.parse(text)
    except TemplateError as exc:
        raise ValueError(f"template syntax error: {exc}") from exc


def _render(env: ImmutableSandboxedEnvironment, text: str, context: Mapping[str, Any], field: str) -> str:
    if not is_template(text):
        return text
    try:
        return str(env.from_string(text).render(**context))
    except TemplateError as exc:
        raise TemplateRefused(field, f"cannot render {text!r}: {exc}") from exc


def render(text: str, context: Mapping[str, Any], field: str) -> str:
    """Render text in the sandbox; undefined names and sandbox violations refuse with a reason."""
    return _render(_ENV, text, context, field)


def render_name(text: str, context: Mapping[str, Any], field: str, rule: NameRule) -> str:
    """Render, then insist the result is a Kubernetes name; `api\\n  namespace: x` or `../` are refused."""
    value = render(text, context, field)
    problem = name_problem(value, rule)
    if problem is not None:
        raise TemplateRefused(field, problem)
    return value


def render_promql(text: str, context: Mapping[str, Any], field: str) -> str:
    """Render a PromQL expression; every interpolated value is escaped as string-literal content."""
    return _render(_PROMQL_ENV, text, context, field)


def render_url(text: str, context: Mapping[str, Any], field: str) -> str:
    """Render a URL; every interpolated value is percent-encoded as one URL component."""
    return _render(_URL_ENV, text, context, field)
