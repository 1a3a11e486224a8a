"""The report's figures against an independent oracle (issue 13, point 1).

The history (tests/webhook/report/history.py) is six weeks across both 2026 DST ends (Europe/Berlin Oct 25,
America/New_York Nov 1), responders in five zones (three explicit, one from their schedule, one UTC), acks from
Slack, SMS, voice, e-mail, PagerDuty and the API/console, transient, flapping, never acknowledged, remediated
incidents without a page, escalations to step 2 and changed feedback. The oracle below reads the same list of
specs with plain loops (no database, no code of webhook.report) and computes every figure; the report must
equal it exactly, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from tests.support.harness import make_config
from tests.webhook.report.history import END, ONCALL, RESPONDERS, START, Spec, generate, write
from webhook.config import TocsinConfig
from webhook.report.build import Period, build_report
from webhook.report.compute import Settings
from webhook.store.db import make_engine
from webhook.store.migrate import upgrade

CHART_ZONE = "Europe/Berlin"
TAG = re.compile(r"^via [a-z_]+$")


# ---------------------------------------------------------------------------------------------- the oracle
def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    rank = math.ceil(p * len(values))  # nearest rank, 1-based
    return values[rank - 1] if rank >= 1 else values[0]


def _note(text: str) -> bool:
    return text.strip() != "" and not TAG.match(text.strip())


def _team(s: Spec) -> str:
    has_run = s.run_team is not None or bool(s.steps)
    if has_run and s.run_team:
        return s.run_team
    return s.team_label or "(none)"


def _facts(s: Spec, transient: timedelta) -> dict[str, Any]:
    acts = sorted(s.actions, key=lambda a: a.at)
    ack = next((a.at for a in acts if a.action == "ack"), None)
    human_resolve = next((a for a in acts if a.action == "resolve"), None)
    if human_resolve is not None:
        resolved_at, resolved_by = human_resolve.at, human_resolve.actor
    elif s.auto_resolve is not None:
        resolved_at, resolved_by = s.auto_resolve, "alertmanager"
    else:
        resolved_at, resolved_by = None, None
    approved = any(d == "approved" and by is not None for d, by in s.approvals) and bool(s.runs)
    human = bool(acts) or bool(s.feedback) or approved
    noted = any(_note(a.note) for a in acts) or approved
    latest: dict[str, bool] = {}
    for person, answer, _at in s.feedback:
        latest[person] = answer
    if latest:
        yes = sum(1 for v in latest.values() if v)
        actionable = yes >= len(latest) - yes
    else:
        actionable = noted
    pages = [p for p in s.pages if p.status == "delivered" and p.kind in ("trigger", "reminder")]
    remediated = any(o in ("verified", "completed") and not dry for o, dry in s.runs)
    is_transient = (resolved_by == "alertmanager" and not human and resolved_at is not None
                    and resolved_at - s.opened_at <= transient)
    return {
        "pages": pages, "transient": is_transient, "flapping": s.flapping or s.flap_event,
        "never_acked": ack is None, "actionable": actionable,
        "reasoned": human_resolve is not None and _note(human_resolve.note),
        "mtta": (ack - s.opened_at).total_seconds() if ack else None,
        "mttr": (resolved_at - s.opened_at).total_seconds() if resolved_at else None,
        "remediated": remediated, "avoided": remediated and not pages,
        "escalated": any(k >= 1 and st == "fired" for k, st in s.steps),
    }


def _local(at: datetime, zone: str) -> datetime:
    return at.astimezone(ZoneInfo(zone))


def _off_hours(local: datetime) -> bool:
    return not (local.weekday() < 5 and 9 <= local.hour < 18)


def _sleep(local: datetime) -> bool:
    return local.hour >= 22 or local.hour < 7


def _group(items: list[tuple[Spec, dict[str, Any]]]) -> dict[str, Any]:
    n = len(items)
    channels: Counter[str] = Counter()
    sleep = off = 0
    for _s, f in items:
        for p in f["pages"]:
            channels[p.channel] += 1
            if p.responder is not None:
                local = _local(p.at, RESPONDERS[p.responder][1])
                sleep += _sleep(local)
                off += _off_hours(local)

    def count(key: str) -> int:
        return sum(1 for _s, f in items if f[key])

    mtta = [f["mtta"] for _s, f in items if f["mtta"] is not None]
    mttr = [f["mttr"] for _s, f in items if f["mttr"] is not None]
    out: dict[str, Any] = {"incidents": n, "pages": sum(len(f["pages"]) for _s, f in items),
                           "pages_by_channel": dict(sorted(channels.items()))}
    for key in ("transient", "flapping", "never_acked", "actionable"):
        out[key] = count(key)
        out[f"{key}_share"] = count(key) / n if n else None
    out["resolved_with_reason"] = count("reasoned")
    out |= {"mtta_p50_s": _pct(mtta, 0.5), "mtta_p90_s": _pct(mtta, 0.9),
            "mttr_p50_s": _pct(mttr, 0.5), "mttr_p90_s": _pct(mttr, 0.9),
            "remediated": count("remediated"), "pages_avoided": count("avoided"),
            "escalated_step2": count("escalated"), "sleep_pages": sleep, "off_hours_pages": off}
    return out


def oracle(specs: list[Spec], start: datetime, end: datetime, team: str | None = None,
           transient: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    inside = [(s, _facts(s, transient)) for s in specs if start <= s.opened_at < end
              and (team is None or _team(s) == team)]
    out: dict[str, Any] = {"totals": _group(inside)}
    keys = {"rule": lambda s: s.rule, "team": _team, "service": lambda s: s.service or "(none)",
            "severity": lambda s: s.severity}
    for dim, key in keys.items():
        names = sorted({key(s) for s, _f in inside})
        out[f"by_{dim}"] = [{dim: name, **_group([(s, f) for s, f in inside if key(s) == name])} for name in names]
    # responders, in their own zones; 12-hour shifts start at 07:00 and 19:00 local
    per: dict[str, list[datetime]] = {}
    for _s, f in inside:
        for p in f["pages"]:
            if p.responder is not None:
                per.setdefault(p.responder, []).append(p.at)
    responders = []
    for name in sorted(per):
        zone = RESPONDERS[name][1]
        shifts: Counter[tuple[Any, str]] = Counter()
        for at in per[name]:
            local = _local(at, zone)
            if local.hour >= 19:
                shifts[(local.date(), "night")] += 1
            elif local.hour >= 7:
                shifts[(local.date(), "day")] += 1
            else:
                shifts[(local.date() - timedelta(days=1), "night")] += 1
        responders.append({"responder": name, "timezone": zone, "pages": len(per[name]),
                           "off_hours_pages": sum(_off_hours(_local(a, zone)) for a in per[name]),
                           "sleep_pages": sum(_sleep(_local(a, zone)) for a in per[name]),
                           "shifts_with_pages": len(shifts),
                           "shifts_over_budget": sum(1 for v in shifts.values() if v > 2),
                           "max_pages_per_shift": max(shifts.values())})
    out["responders"] = responders
    # charts
    per_day: dict[str, Counter[str]] = {}
    week = [0] * 168
    for s, f in inside:
        for p in f["pages"]:
            local = _local(p.at, CHART_ZONE)
            per_day.setdefault(local.date().isoformat(), Counter())[s.severity] += 1
            week[local.weekday() * 24 + local.hour] += 1
    edges = [1, 5, 15, 30, 60, 240]
    hist = [0] * 7
    for _s, f in inside:
        if f["mtta"] is not None:
            minutes = f["mtta"] / 60
            slot = 6
            for i, e in enumerate(edges):
                if minutes < e:
                    slot = i
                    break
            hist[slot] += 1
    out["charts"] = {"zone": CHART_ZONE,
                     "pages_per_day": {d: dict(sorted(c.items())) for d, c in sorted(per_day.items())},
                     "mtta_histogram": [{"from_min": lo, "to_min": hi, "count": hist[i]} for i, (lo, hi)
                                        in enumerate(zip([0, *edges], [*edges, None], strict=True))],
                     "pages_by_hour_of_week": week}
    ranked = sorted(((r["pages"] * (1 - (r["actionable_share"] or 0)), r["pages"], r["rule"])
                     for r in out["by_rule"] if r["pages"]), key=lambda t: (-t[0], -t[1], t[2]))
    out["noisiest"] = [(rule, score, pages) for score, pages, rule in ranked[:10]]
    return out


# ---------------------------------------------------------------------------------------------- the test
@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Iterator[tuple[Engine, TocsinConfig, list[Spec]]]:
    specs = generate()
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        write(conn, specs)
    yield engine, make_config(db_url, tmp_path, oncall=ONCALL), specs
    engine.dispose()


def _compare(report: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("totals", "by_rule", "by_team", "by_service", "by_severity", "responders", "charts"):
        assert report[key] == expected[key], key
    assert [(n["rule"], n["score"], n["pages"]) for n in report["noisiest"]] == expected["noisiest"]


def test_every_figure_equals_the_oracle_on_both_databases(seeded: tuple[Engine, TocsinConfig, list[Spec]]) -> None:
    engine, cfg, specs = seeded
    with engine.connect() as conn:
        report = build_report(conn, cfg, Period(START, END), None, Settings(chart_zone=CHART_ZONE))
        payments = build_report(conn, cfg, Period(START, END), "payments", Settings(chart_zone=CHART_ZONE))
    expected = oracle(specs, START, END)
    _compare(report, expected)
    _compare(payments, oracle(specs, START, END, "payments"))
    # the history covers what the test claims (an oracle over an empty corner would prove little)
    t = report["totals"]
    assert t["incidents"] == len([s for s in specs if START <= s.opened_at < END]) > 250
    assert set(t["pages_by_channel"]) == {"slack", "sms", "voice", "email", "pagerduty"}
    assert min(t["transient"], t["flapping"], t["never_acked"], t["actionable"], t["pages_avoided"],
               t["escalated_step2"], t["resolved_with_reason"]) > 0
    assert {r["timezone"] for r in report["responders"]} == {z for _e, z in RESPONDERS.values()}
    assert 0 < payments["totals"]["incidents"] < t["incidents"]
    # one seeded database per engine for all checks: seeding is the slow part
    _dst_pages_are_judged_in_the_responders_own_zone(report, specs)
    _transient_limit_is_inclusive_and_the_latest_answer_of_a_person_counts(engine, cfg)


def _dst_pages_are_judged_in_the_responders_own_zone(report: dict[str, Any], specs: list[Spec]) -> None:
    dst = next(s for s in specs if s.rule == "DstCheck")
    [row] = [r for r in report["by_rule"] if r["rule"] == "DstCheck"]
    # 05:30 UTC is 06:30 in Berlin after the switch (asleep) but 07:30 the day before (awake); 11:30 UTC in New
    # York likewise: two of the four pages fall into sleep hours, all four are out of working hours (Sunday/
    # Saturday), and a fixed UTC offset would have got both sleep pages wrong
    assert row["pages"] == 4 and row["sleep_pages"] == 2 and row["off_hours_pages"] == 4
    assert [(p.at.hour, p.responder) for p in dst.pages][:1] == [(5, "alice")]


def _transient_limit_is_inclusive_and_the_latest_answer_of_a_person_counts(engine: Engine,
                                                                            cfg: TocsinConfig) -> None:
    with engine.connect() as conn:
        five = build_report(conn, cfg, Period(START + timedelta(days=5), START + timedelta(days=5, seconds=1)))
        past = build_report(conn, cfg, Period(START + timedelta(days=6), START + timedelta(days=6, seconds=1)))
        changed = build_report(conn, cfg, Period(START + timedelta(days=4), START + timedelta(days=4, seconds=1)))
    assert five["totals"]["transient"] == 1 and past["totals"]["transient"] == 0
    assert changed["totals"]["incidents"] == 1 and changed["totals"]["actionable"] == 0  # yes, then no
