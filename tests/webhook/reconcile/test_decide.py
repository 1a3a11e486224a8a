"""The reconcile decisions as a pure function: two complete polls close a gone alert or adopt a missed one; the
union over the HA pair; the suppression of each incident and its timeline entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webhook.reconcile.decide import (
    AlertState,
    Change,
    Held,
    Listed,
    Memory,
    Suppression,
    episode_key,
    merge,
    plan,
    timeline,
)

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
ACTIVE, SUPPRESSED, UNPROCESSED = AlertState.ACTIVE, AlertState.SUPPRESSED, AlertState.UNPROCESSED


def held(fp: str, inc: int = 1, starts: datetime = T0) -> Held:
    return Held(fp, starts, inc)


def listed(fp: str, state: AlertState = ACTIVE, starts: datetime = T0, silenced: tuple[str, ...] = (),
           inhibited: tuple[str, ...] = ()) -> Listed:
    return Listed(fp, starts, state, silenced, inhibited)


def test_an_alert_gone_in_one_poll_stays_and_is_closed_after_the_second() -> None:
    tocsin = [held("a"), held("b")]
    first = plan(tocsin, [], merge([[listed("b")]]), Memory(), {})
    assert first.close == [] and first.memory.missing == {episode_key("a", T0)}
    second = plan(tocsin, [], merge([[listed("b")]]), first.memory, {})
    assert second.close == [held("a")]


def test_an_alert_back_in_between_is_not_closed() -> None:
    tocsin = [held("a")]
    m1 = plan(tocsin, [], {}, Memory(), {}).memory
    m2 = plan(tocsin, [], merge([[listed("a")]]), m1, {}).memory
    assert plan(tocsin, [], {}, m2, {}).close == []


def test_a_listing_of_any_alertmanager_of_the_pair_keeps_the_alert() -> None:
    tocsin = [held("a"), held("b")]
    union = merge([[listed("a")], [listed("b")]])  # each Alertmanager lost one of them (restart without state)
    memory = Memory()
    for _ in range(3):
        p = plan(tocsin, [], union, memory, {})
        memory = p.memory
        assert p.close == []


def test_suppressed_and_unprocessed_alerts_are_not_gone() -> None:
    tocsin = [held("a"), held("b")]
    listing = merge([[listed("a", SUPPRESSED, silenced=("s1",)), listed("b", UNPROCESSED)]])
    memory = plan(tocsin, [], listing, Memory(), {}).memory
    assert plan(tocsin, [], listing, memory, {}).close == []


def test_another_episode_of_the_same_fingerprint_does_not_keep_the_old_one() -> None:
    later = T0 + timedelta(minutes=5)  # Alertmanager restarted without state; the alert fired again later
    tocsin = [held("a", starts=T0)]
    listing = merge([[listed("a", starts=later)]])
    memory = plan(tocsin, [], listing, Memory(), {}).memory
    assert plan(tocsin, [], listing, memory, {}).close == [held("a", starts=T0)]


def test_episodes_match_at_the_millisecond() -> None:
    """Webhooks carry startsAt in nanoseconds (stored in microseconds), the API in milliseconds."""
    precise = T0 + timedelta(microseconds=123_456)
    tocsin = [held("a", starts=precise)]
    listing = merge([[listed("a", starts=T0 + timedelta(milliseconds=123))]])
    memory = plan(tocsin, [], listing, Memory(), {}).memory
    assert memory.missing == set()
    assert plan(tocsin, [], listing, memory, {}).close == []


def test_an_active_alert_unknown_to_tocsin_is_adopted_after_two_polls() -> None:
    listing = merge([[listed("x"), listed("y")]])
    first = plan([], [episode_key("y", T0)], listing, Memory(), {})
    assert first.adopt == [] and first.memory.unadopted == {episode_key("x", T0)}
    assert plan([], [episode_key("y", T0)], listing, first.memory, {}).adopt == [listed("x")]


def test_suppressed_or_unprocessed_alerts_are_not_adopted() -> None:
    listing = merge([[listed("x", SUPPRESSED, silenced=("s",)), listed("y", UNPROCESSED)]])
    memory = plan([], [], listing, Memory(), {}).memory
    assert plan([], [], listing, memory, {}).adopt == []


def test_the_pair_disagreeing_on_a_silence_counts_as_silenced() -> None:
    """Gossip lag: one Alertmanager has the new silence, the other not yet. Never adopt (page for) it."""
    union = merge([[listed("x")], [listed("x", SUPPRESSED, silenced=("s1",))]])
    assert union[episode_key("x", T0)].state is SUPPRESSED
    memory = plan([], [], union, Memory(), {}).memory
    assert plan([], [], union, memory, {}).adopt == []


def test_merge_unions_silences_and_inhibitions() -> None:
    union = merge([[listed("x", SUPPRESSED, silenced=("s2",))],
                   [listed("x", SUPPRESSED, silenced=("s1",), inhibited=("f9",))]])
    got = union[episode_key("x", T0)]
    assert (got.silenced_by, got.inhibited_by) == (("s1", "s2"), ("f9",))


def test_suppression_per_incident_and_its_changes() -> None:
    tocsin = [held("a", 1), held("b", 1), held("c", 2)]
    listing = merge([[listed("a", SUPPRESSED, silenced=("s1",)), listed("b"), listed("c")]])
    p = plan(tocsin, [], listing, Memory(), {})
    assert p.suppression == [Change(1, None, Suppression(("s1",), (), 1, 2))]
    assert plan(tocsin, [], listing, p.memory, {1: Suppression(("s1",), (), 1, 2)}).suppression == []
    lifted = merge([[listed("a"), listed("b"), listed("c")]])
    assert plan(tocsin, [], lifted, p.memory, {1: Suppression(("s1",), (), 1, 2)}).suppression == [
        Change(1, Suppression(("s1",), (), 1, 2), None)]


def test_the_row_of_an_incident_no_longer_open_goes_quietly() -> None:
    p = plan([], [], {}, Memory(), {7: Suppression(("s1",), (), 1, 1)})
    assert p.suppression == [Change(7, Suppression(("s1",), (), 1, 1), None, open=False)]
    assert timeline(p.suppression[0]) == []


def test_timeline_entries_name_each_silence_and_the_inhibition() -> None:
    before = Suppression(("s1",), (), 1, 2)
    after = Suppression(("s2",), ("f9",), 2, 2)
    assert timeline(Change(1, before, after)) == [
        ("silenced", {"silence_id": "s2", "alerts": 2, "of": 2}),
        ("unsilenced", {"silence_id": "s1"}),
        ("inhibited", {"inhibited_by": ["f9"]}),
    ]
    assert timeline(Change(1, after, None)) == [("unsilenced", {"silence_id": "s2"}),
                                                ("uninhibited", {"inhibited_by": ["f9"]})]


def test_an_alert_that_is_closed_does_not_count_for_suppression() -> None:
    tocsin = [held("a", 1)]
    memory = plan(tocsin, [], {}, Memory(), {1: Suppression(("s1",), (), 1, 1)}).memory
    p = plan(tocsin, [], {}, memory, {1: Suppression(("s1",), (), 1, 1)})
    assert p.close == [held("a", 1)]
    assert p.suppression == [Change(1, Suppression(("s1",), (), 1, 1), None, open=False)]
