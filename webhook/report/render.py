"""The report as JSON (the figures, keys in docs/report.md), Markdown (for a ticket or a wiki) or one
self-contained HTML page with inline SVG charts (for people, and for the console)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import orjson

FORMATS = ("html", "json", "md")
_DIMS = (("by_rule", "rule", "Per rule (alertname)"), ("by_team", "team", "Per team"),
         ("by_service", "service", "Per service"), ("by_severity", "severity", "Per severity"))
_COLS = (("incidents", "incidents"), ("pages", "pages"), ("transient_share", "transient"),
         ("flapping_share", "flapping"), ("never_acked_share", "never acked"), ("actionable_share", "actionable"),
         ("mtta_p50_s", "MTTA p50"), ("mtta_p90_s", "MTTA p90"), ("mttr_p50_s", "MTTR p50"),
         ("mttr_p90_s", "MTTR p90"), ("pages_avoided", "pages avoided"), ("escalated_step2", "escalated 2+"),
         ("sleep_pages", "sleep pages"))
_RESP = (("timezone", "time zone"), ("pages", "pages"), ("off_hours_pages", "out of hours"),
         ("sleep_pages", "sleep hours"), ("shifts_with_pages", "shifts paged"),
         ("shifts_over_budget", "shifts over budget"), ("max_pages_per_shift", "max per shift"))


def empty_note(report: dict[str, Any]) -> str | None:
    p = report["period"]
    if report["totals"]["incidents"]:
        return None
    team = f" for team {report['team']}" if report.get("team") else ""
    return f"no incidents between {p['from']} and {p['to']}{team}"


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.endswith("_share"):
        return f"{value * 100:.0f} %"
    if key.endswith("_s"):
        return duration(float(value))
    return str(value)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def to_json(report: dict[str, Any]) -> bytes:
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


def _md_table(rows: list[dict[str, Any]], first: str, cols: tuple[tuple[str, str], ...]) -> list[str]:
    out = ["| " + " | ".join([first, *(t for _, t in cols)]) + " |", "|" + "---|" * (len(cols) + 1)]
    for r in rows:
        out.append("| " + " | ".join([str(r[first]).replace("|", "\\|"), *(cell(k, r[k]) for k, _ in cols)]) + " |")
    return out


def to_markdown(report: dict[str, Any]) -> str:
    p, t = report["period"], report["totals"]
    lines = [f"# Alert-quality report {p['from']} .. {p['to']}" + (f" (team {report['team']})" if report["team"]
                                                                     else ""), ""]
    note = empty_note(report)
    if note:
        return "\n".join([*lines, note, ""])
    lines += [f"{t['incidents']} incidents, {t['pages']} pages"
              f" ({', '.join(f'{c} {n}' for c, n in t['pages_by_channel'].items()) or 'none'});"
              f" transient {cell('x_share', t['transient_share'])}, flapping {cell('x_share', t['flapping_share'])},"
              f" never acknowledged {cell('x_share', t['never_acked_share'])},"
              f" actionable {cell('x_share', t['actionable_share'])};"
              f" MTTA p50 {cell('x_s', t['mtta_p50_s'])} / p90 {cell('x_s', t['mtta_p90_s'])},"
              f" MTTR p50 {cell('x_s', t['mttr_p50_s'])} / p90 {cell('x_s', t['mttr_p90_s'])};"
              f" pages avoided by remediation: {t['pages_avoided']}; escalated to step 2+: {t['escalated_step2']}.", "",
              "## Noisiest rules", ""]
    for i, n in enumerate(report["noisiest"], 1):
        lines.append(f"{i}. **{n['rule']}**: score {n['score']:.1f} ({n['pages']} pages,"
                     f" actionable {cell('x_share', n['actionable_share'])})")
        lines += [f"   - {s['text']}" for s in n["suggestions"]] or ["   - no suggestion from its numbers"]
    if not report["noisiest"]:
        lines.append("No rule paged.")
    lines += ["", "## Responders (in their own time zones)", ""]
    lines += _md_table(report["responders"], "responder", _RESP) if report["responders"] else ["No pages to people."]
    for key, first, title in _DIMS:
        lines += ["", f"## {title}", "", *_md_table(report[key], first, _COLS)]
    return "\n".join(lines) + "\n"


def _html_table(rows: list[dict[str, Any]], first: str, cols: tuple[tuple[str, str], ...]) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t in (first, *(t for _, t in cols)))
    body = "".join("<tr><td>" + escape(str(r[first])) + "</td>"
                   + "".join(f"<td>{escape(cell(k, r[k]))}</td>" for k, _ in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;"
          "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}"
          "td:first-child,th:first-child{text-align:left}svg{max-width:100%;height:auto}.empty{font-size:1.2em}")


def to_html(report: dict[str, Any], charts: Callable[[dict[str, Any]], list[str]] | None = None) -> str:
    """One page, no external assets; `charts` (webhook/report/charts.py, injected so tests may skip the cost)
    returns inline SVG elements."""
    p = report["period"]
    title = f"Alert-quality report {p['from']} .. {p['to']}" + (f" (team {report['team']})" if report["team"] else "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>"]
    note = empty_note(report)
    if note:
        return "".join([*parts, f"<p class='empty'>{escape(note)}</p></body></html>"])
    t = report["totals"]
    parts.append("<h2>Totals</h2>" + _html_table([{"": "all", **t}], "", _COLS))
    parts.append("<h2>Noisiest rules</h2><ol>")
    for n in report["noisiest"]:
        sug = "".join(f"<li>{escape(s['text'])}</li>" for s in n["suggestions"]) or "<li>no suggestion</li>"
        parts.append(f"<li><b>{escape(n['rule'])}</b>: score {n['score']:.1f} ({n['pages']} pages, actionable"
                     f" {escape(cell('x_share', n['actionable_share']))})<ul>{sug}</ul></li>")
    parts.append("</ol>")
    if charts is not None:
        parts.append("<h2>Charts</h2>" + "".join(f"<figure>{svg}</figure>" for svg in charts(report)))
    parts.append("<h2>Responders (in their own time zones)</h2>" + _html_table(report["responders"], "responder",
                                                                               _RESP))
    for key, first, heading in _DIMS:
        parts.append(f"<h2>{escape(heading)}</h2>" + _html_table(report[key], first, _COLS))
    parts.append("</body></html>")
    return "".join(parts)


def svg_charts(report: dict[str, Any]) -> list[str]:
    from webhook.report import charts

    c = report["charts"]
    return [charts.pages_per_day(c["pages_per_day"]), charts.mtta_histogram(c["mtta_histogram"]),
            charts.hour_of_week(c["pages_by_hour_of_week"], c["zone"])]


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    if fmt == "md":
        return to_markdown(report).encode()
    if fmt == "html":
        return to_html(report, svg_charts).encode()
    raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
