"""Call an HTTP endpoint, only when its URL is on the operator's allow-list (no shell, ever)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field

from remediator.actions.base import ActionContext, Planned, StepBase, StepFailed, StepRefused, TemplateStr
from remediator.cluster import Change
from remediator.durations import Duration


class HttpParams(StepBase):
    """Call an allow-listed URL (e.g. a feature-flag switch, a cache flush endpoint)."""

    action: Literal["http"]
    url: TemplateStr = Field(description="Must start with an entry of the engine's http_allowlist.")
    method: Literal["GET", "POST", "PUT"] = "POST"
    body: dict[str, TemplateStr] | None = Field(None, description="JSON object; values may be templates.")
    expect_status: list[int] = Field(default_factory=lambda: [200, 201, 202, 204])
    timeout: Duration = Field(default=timedelta(seconds=10))


def routed_path(raw: str) -> str | None:
    """The path as a server that percent-decodes before routing sees it (nginx and many frameworks do), or
    None when that reading could leave an allow-listed prefix: encoded '/' or '\\', backslashes, a second
    level of encoding ('%252e'), or '.'/'..' segments, plain or encoded ('%2e%2e', '.%2e', '..;')."""
    if "%2f" in raw.lower() or "%5c" in raw.lower() or "\\" in raw:
        return None
    path = unquote(raw)
    if "%" in path or "\\" in path:
        return None
    if any(segment.split(";", 1)[0] in (".", "..") for segment in path.split("/")):
        return None
    return path


def allowed(url: str, allowlist: tuple[str, ...]) -> bool:
    """URL prefix match on whole components: scheme and host equal, the decoded path under the listed path."""
    got = urlsplit(url)
    if got.username or got.password or not got.scheme or not got.netloc:
        return False
    path = routed_path(got.path)
    if path is None:
        return False
    for entry in allowlist:
        want = urlsplit(entry)
        prefix = unquote(want.path).rstrip("/")
        if (got.scheme, got.netloc) == (want.scheme, want.netloc) and (
                path == prefix or path.startswith(prefix + "/")):
            return True
    return False


async def plan_http(p: HttpParams, ctx: ActionContext) -> Planned:
    url = ctx.url(p.url)
    if not allowed(url, ctx.http_allowlist):
        raise StepRefused(f"{url!r} is not on the HTTP allow-list")
    body = {k: ctx.text(v, f"body.{k}") for k, v in (p.body or {}).items()} if p.body is not None else None

    async def apply(dry_run: bool) -> Change:
        if dry_run:
            return Change(f"would {p.method} {url}", True)
        status = await ctx.http(p.method, url, body, p.timeout.total_seconds())
        if status not in p.expect_status:
            raise StepFailed(f"{p.method} {url} answered {status}, expected {p.expect_status}")
        return Change(f"{p.method} {url} -> {status}", False, {"status": status})

    return Planned(f"{p.method} {url}", apply, mutating=True)
