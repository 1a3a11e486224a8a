"""The replay's answer as text (a terminal), JSON (tools) or HTML (a browser): the recorded and the replayed
pages side by side, per person, per night, per rule and per channel, then each page that differs."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webhook.replay.compare import Diff, Side, diff_json, page_json
from webhook.replay.engine import Page, Replayed

FORMATS = ("text", "json", "html")
#: Differing pages listed one by one at most (the JSON lists all of them).
LISTED = 200


@dataclass(frozen=True)
class Outcome:
    """Everything a replay report shows."""

    start: datetime
    end: datetime
    config: str
    recorded: list[Page]
    replayed: Replayed
    diff: Diff
    #: runbook id -> {"incidents": it would run for, "pages_avoided_if_verified": their pages within its hold}
    runbooks: dict[str, dict[str, int]]


def as_json(o: Outcome) -> dict[str, Any]:
    r = o.replayed
    return {
        "period": {"from": o.start.isoformat(), "to": o.end.isoformat(),
                   "replayed_from": r.warm_start.isoformat() if r.warm_start else None},
        "config": o.config,
        "journal_rows": r.journal_rows, "batches": r.batches,
        "human_actions": {"applied": r.actions_applied, "skipped": dict(r.actions_skipped)},
        "recorded": {"messages": len(o.recorded), "pages": sum(1 for p in o.recorded if p.kind in _PAGING)},
        "replayed": {"messages": len(r.pages), "pages": sum(1 for p in r.pages if p.kind in _PAGING)},
        "diff": diff_json(o.diff),
        "pages": [page_json(p) for p in r.pages if p.kind in _PAGING],
        "runbooks": o.runbooks,
    }


_PAGING = frozenset({"trigger", "reminder", "storm_summary", "digest"})


def _rows(table: dict[str, tuple[Side, Side]]) -> list[tuple[str, Side, Side]]:
    return sorted(((k, a, b) for k, (a, b) in table.items()), key=lambda x: (-(x[1].pages + x[2].pages), x[0]))


def _line(p: Page) -> str:
    who = p.responder or p.address
    step = f" step {p.step + 1}" if p.step is not None else ""
    return f"{p.due_at:%Y-%m-%d %H:%M:%S} {p.kind:<13} {p.channel:<9} {who:<24} {p.alertname}{step}"


def as_text(o: Outcome) -> str:
    d, r = o.diff, o.replayed
    out = [f"replay of {o.start:%Y-%m-%d %H:%M} .. {o.end:%Y-%m-%d %H:%M} UTC through {o.config}",
           f"  {r.journal_rows:,} alert deliveries that changed something ({r.batches:,} batches), "
           f"{r.actions_applied} human actions replayed"
           + (f", skipped: {', '.join(f'{k} ({v})' for k, v in sorted(r.actions_skipped.items()))}"
              if r.actions_skipped else ""),
           "",
           f"messages: recorded {len(o.recorded):,}, replayed {len(r.pages):,}; same {d.matched:,}, moved {d.moved:,}, "
           f"only recorded {len(d.only_recorded):,}, only replayed {len(d.only_replayed):,} "
           f"({'identical' if d.identical else f'{d.match_ratio:.1%} the same'})", ""]
    for title, table in (("per person", d.per_responder), ("per rule", d.per_rule), ("per channel", d.per_channel)):
        out.append(f"{title:<28} {'pages then':>10} {'pages now':>10} {'night then':>11} {'night now':>10}")
        for k, a, b in _rows(table)[:30]:
            out.append(f"  {k[:26]:<26} {a.pages:>10} {b.pages:>10} {a.night:>11} {b.night:>10}")
        out.append("")
    worst = sorted(d.nights.items(), key=lambda x: -max(x[1]))[:10]
    if worst:
        out.append("busiest nights (person's own time zone)   then   now")
        out += [f"  {k:<38} {a:>5} {b:>5}" for k, (a, b) in worst]
        out.append("")
    for title, pages in (("only in the replay", d.only_replayed), ("only in the recording", d.only_recorded)):
        if pages:
            out.append(f"{title} ({len(pages):,}):")
            out += ["  " + _line(p) for p in pages[:LISTED]]
            if len(pages) > LISTED:
                out.append(f"  ... {len(pages) - LISTED:,} more (--format json lists all)")
            out.append("")
    if o.runbooks:
        out.append("runbooks that would run (dry plan; the pages avoided need their fix to verify):")
        out += [f"  {rb}: {v['incidents']} incidents, {v['pages_avoided_if_verified']} pages avoided if verified"
                for rb, v in sorted(o.runbooks.items())]
    return "\n".join(out).rstrip() + "\n"


def as_html(o: Outcome) -> str:
    e = html.escape
    d = o.diff

    def table(title: str, rows: dict[str, tuple[Side, Side]]) -> str:
        body = "".join(f"<tr><td>{e(k)}</td><td>{a.pages}</td><td>{b.pages}</td><td>{a.night}</td><td>{b.night}</td>"
                       f"</tr>" for k, a, b in _rows(rows))
        return (f"<h2>{e(title)}</h2><table><tr><th></th><th>pages then</th><th>pages now</th><th>night then</th>"
                f"<th>night now</th></tr>{body}</table>")

    def pages(title: str, ps: list[Page]) -> str:
        if not ps:
            return ""
        items = "".join(f"<li><code>{e(_line(p))}</code></li>" for p in ps[:LISTED])
        return f"<h2>{e(title)} ({len(ps)})</h2><ul>{items}</ul>"

    summary = e(as_text(o).split("\n\n")[0] + "\n" + as_text(o).split("\n\n")[1])
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>Tocsin replay</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}"
            "table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ccc;text-align:right}"
            "td:first-child{text-align:left}@media(prefers-color-scheme:dark){body{background:#111;color:#eee}}"
            f"</style><h1>What-if replay</h1><pre>{summary}</pre>"
            + table("Per person", d.per_responder) + table("Per rule", d.per_rule)
            + table("Per channel", d.per_channel) + pages("Only in the replay", d.only_replayed)
            + pages("Only in the recording", d.only_recorded) + "</html>\n")


def render(o: Outcome, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(as_json(o), indent=2).encode() + b"\n"
    if fmt == "html":
        return as_html(o).encode()
    return as_text(o).encode()
