"""From a rule's numbers to concrete suggestions: the noisiest rules ranked, each with what to change and why.

Pure functions over the per-rule figures of webhook/report/compute.py (the JSON of `by_rule`), so the rules are
tested with hand-written numbers. Thresholds are documented in docs/report.md ("Suggestions").
"""

from __future__ import annotations

from typing import Any

#: Severities that may wait until morning (everything but these two pages at night only when it must).
URGENT = frozenset({"critical", "page"})
TRANSIENT_SHARE = 0.5
FLAPPING_SHARE = 0.3
NEVER_ACKED_SHARE = 0.5
NOT_ACTIONABLE_SHARE = 0.2
RUNBOOK_MIN_INCIDENTS = 5
RUNBOOK_REASONED_SHARE = 0.5
NIGHT_PAGES = 3


def score(rule: dict[str, Any]) -> float:
    """Noise score: pages x (1 - actionable share). A rule that pages a lot and rarely needs a human ranks first."""
    actionable = rule["actionable_share"] or 0.0
    return float(rule["pages"]) * (1.0 - actionable)


def _pct(x: float | None) -> str:
    return f"{(x or 0) * 100:.0f} %"


def suggestions(rule: dict[str, Any], severities: set[str], transient_minutes: float) -> list[dict[str, Any]]:
    """The suggestions for one rule, each with the action, the reason in words and the numbers behind it."""
    out: list[dict[str, Any]] = []
    n = rule["incidents"]
    if n and (rule["transient_share"] or 0) >= TRANSIENT_SHARE:
        out.append({"action": "raise_for",
                    "text": f"raise the rule's `for` above {transient_minutes:g} min: {_pct(rule['transient_share'])}"
                            f" of its incidents resolved by themselves within {transient_minutes:g} min",
                    "numbers": {"transient": rule["transient"], "incidents": n}})
    if n and (rule["flapping_share"] or 0) >= FLAPPING_SHARE:
        out.append({"action": "hysteresis",
                    "text": f"add hysteresis (`keep_firing_for`, or a lower resolve threshold):"
                            f" {_pct(rule['flapping_share'])} of its incidents flapped",
                    "numbers": {"flapping": rule["flapping"], "incidents": n}})
    if n and (rule["never_acked_share"] or 0) >= NEVER_ACKED_SHARE \
            and (rule["actionable_share"] or 0) <= NOT_ACTIONABLE_SHARE:
        out.append({"action": "lower_severity",
                    "text": f"lower the severity or route it to a ticket queue: {_pct(rule['never_acked_share'])}"
                            f" never acknowledged, {_pct(rule['actionable_share'])} actionable",
                    "numbers": {"never_acked": rule["never_acked"], "actionable": rule["actionable"],
                                "incidents": n}})
    if n >= RUNBOOK_MIN_INCIDENTS and rule["resolved_with_reason"] / n >= RUNBOOK_REASONED_SHARE \
            and rule["remediated"] == 0:
        out.append({"action": "write_runbook",
                    "text": f"write a runbook: {rule['resolved_with_reason']} of {n} incidents were resolved by hand"
                            " with a reason, none by remediation",
                    "numbers": {"resolved_with_reason": rule["resolved_with_reason"], "incidents": n}})
    if rule["sleep_pages"] >= NIGHT_PAGES and severities and not severities & URGENT:
        levels = ", ".join(sorted(severities))
        out.append({"action": "hold_until_morning",
                    "text": f"hold until morning (an escalation policy with `active_hours` or a digest):"
                            f" {rule['sleep_pages']} pages during sleep hours at severity {levels}",
                    "numbers": {"sleep_pages": rule["sleep_pages"]}})
    return out


def noisiest(by_rule: list[dict[str, Any]], top: int, severities: dict[str, set[str]] | None = None,
             transient_minutes: float = 5) -> list[dict[str, Any]]:
    """The `top` rules by score (ties: more pages, then the name), with their suggestions; rules without
    pages are not noise and are left out."""
    ranked = sorted((r for r in by_rule if r["pages"] > 0), key=lambda r: (-score(r), -r["pages"], r["rule"]))
    sev = severities or {}
    return [{"rule": r["rule"], "score": score(r), "pages": r["pages"], "incidents": r["incidents"],
             "actionable_share": r["actionable_share"],
             "suggestions": suggestions(r, sev.get(r["rule"], set()), transient_minutes)} for r in ranked[:top]]
