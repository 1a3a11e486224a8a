"""The RunStore contract, run against the in-memory reference store and the SQL store on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remediator.records import (
    ApprovalDecision,
    ApprovalRecord,
    AuditEntry,
    AuditKind,
    Effects,
    NewRun,
    Outcome,
    Phase,
    RunStatus,
    StepOutcome,
    StepRecord,
)
from remediator.store import MemoryStore, RunStore
from webhook.remediation.run_store import SqlRunStore
from webhook.store.db import Database
from webhook.store.migrate import upgrade

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TARGET = {"namespace": "shop", "deployment": "api"}


def new(key: str, runbook: str = "rb", at: datetime = T0) -> NewRun:
    return NewRun(key, runbook, "41", "tocsin", {"alertname": "X"}, {"summary": "s"}, False, at)


def step(run_id: str, index: int, *, phase: Phase = Phase.STEPS, outcome: StepOutcome = StepOutcome.APPLIED,
         pods: int = 0, dry_run: bool = False, at: datetime = T0) -> StepRecord:
    return StepRecord(run_id, phase, index, "delete_pod", f"step {index}", at, dry_run, outcome,
                      params={"grace": 30}, finished_at=at, pods_deleted=pods)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = (f"sqlite:///{tmp_path / 'tocsin.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("fresh_pg_url")))
    db = Database.from_url(url)
    upgrade(db.engine)
    yield SqlRunStore(db)
    db.close()


async def test_create_run_is_idempotent_per_key(store: RunStore) -> None:
    run, created = await store.create_run(new("rb/fp/1"))
    again, created_again = await store.create_run(new("rb/fp/1", at=T0 + timedelta(minutes=1)))
    assert created and not created_again and again.id == run.id and again.created_at == T0
    assert run.status is RunStatus.PENDING and run.labels == {"alertname": "X"} and run.incident_id == "41"
    assert await store.get_run(run.id) == run
    assert await store.get_run("run-does-not-exist") is None and await store.get_run("999999") is None


async def test_one_active_run_per_target(store: RunStore) -> None:
    a, _ = await store.create_run(new("a"))
    b, _ = await store.create_run(new("b"))
    assert await store.claim_target(a.id, "deployment/shop/api", TARGET, T0)
    assert not await store.claim_target(b.id, "deployment/shop/api", TARGET, T0)
    assert (await store.get_run(b.id)).status is RunStatus.PENDING  # type: ignore[union-attr]
    claimed = await store.get_run(a.id)
    assert claimed is not None and claimed.status is RunStatus.RUNNING and claimed.target == TARGET
    assert claimed.started_at == T0 and claimed.target_key == "deployment/shop/api"
    await store.transition(a.id, (RunStatus.RUNNING,), at=T0, status=RunStatus.FINISHED, outcome=Outcome.VERIFIED)
    assert await store.claim_target(b.id, "deployment/shop/api", TARGET, T0 + timedelta(hours=1))


async def test_transition_is_compare_and_set(store: RunStore) -> None:
    run, _ = await store.create_run(new("k"))
    assert await store.transition(run.id, (RunStatus.RUNNING,), at=T0, status=RunStatus.FINISHED) is None
    later = T0 + timedelta(minutes=3)
    moved = await store.transition(run.id, (RunStatus.PENDING,), at=later, status=RunStatus.AWAITING_APPROVAL,
                                   next_step=2)
    assert moved is not None and moved.next_step == 2 and moved.updated_at == later and moved.finished_at is None
    done = await store.transition(run.id, (RunStatus.AWAITING_APPROVAL,), at=later, status=RunStatus.FINISHED,
                                  outcome=Outcome.ABORTED, reason="aborted by carol")
    assert done is not None and done.outcome is Outcome.ABORTED and done.reason == "aborted by carol"
    assert done.finished_at == later and done.next_step == 2
    assert await store.transition(run.id, (RunStatus.AWAITING_APPROVAL,), at=later, status=RunStatus.RUNNING) is None


async def test_steps_upsert_and_list_main_phase_first(store: RunStore) -> None:
    run, _ = await store.create_run(new("k"))
    await store.save_step(step(run.id, 0, phase=Phase.ROLLBACK))
    await store.save_step(step(run.id, 1, outcome=StepOutcome.RUNNING))
    await store.save_step(step(run.id, 0))
    await store.save_step(step(run.id, 1, outcome=StepOutcome.FAILED))
    listed = await store.list_steps(run.id)
    assert [(s.phase, s.index, s.outcome) for s in listed] == [
        (Phase.STEPS, 0, StepOutcome.APPLIED), (Phase.STEPS, 1, StepOutcome.FAILED),
        (Phase.ROLLBACK, 0, StepOutcome.APPLIED)]
    assert listed[0].params == {"grace": 30} and listed[0].run_id == run.id


async def test_guard_queries_count_windows(store: RunStore) -> None:
    a, _ = await store.create_run(new("a"))
    b, _ = await store.create_run(new("b"))
    await store.claim_target(a.id, "pod/shop/x", {}, T0)
    await store.transition(a.id, (RunStatus.RUNNING,), at=T0, status=RunStatus.FINISHED, outcome=Outcome.FAILED)
    await store.claim_target(b.id, "pod/shop/x", {}, T0 + timedelta(minutes=30))
    await store.save_step(step(a.id, 0, pods=2))
    await store.save_step(step(b.id, 0, pods=1, at=T0 + timedelta(minutes=30)))
    await store.save_step(step(b.id, 1, pods=5, dry_run=True, at=T0 + timedelta(minutes=30)))
    await store.save_step(step(b.id, 2, pods=5, outcome=StepOutcome.REFUSED, at=T0 + timedelta(minutes=30)))
    assert [r.id for r in await store.runs_for_target_since("pod/shop/x", T0 + timedelta(minutes=1))] == [b.id]
    assert len(await store.runs_for_target_since("pod/shop/x", T0)) == 2
    assert await store.failed_verifications_since("rb", T0) == 1
    assert await store.failed_verifications_since("rb", T0 + timedelta(seconds=1)) == 0
    assert await store.effects_since(T0) == Effects(3, 0)
    assert await store.effects_since(T0 + timedelta(minutes=1)) == Effects(1, 0)
    assert [r.id for r in await store.runs_with_status((RunStatus.RUNNING,))] == [b.id]


async def test_the_first_approval_decision_wins(store: RunStore) -> None:
    run, _ = await store.create_run(new("k"))
    asked = ApprovalRecord(run.id, 1, "restart?", T0, T0 + timedelta(minutes=30))
    assert await store.request_approval(asked) == asked
    assert await store.request_approval(ApprovalRecord(run.id, 1, "other", T0, T0)) == asked
    assert await store.get_approval(run.id, 0) is None
    first = await store.decide_approval(run.id, 1, ApprovalDecision.REJECTED, "carol", T0)
    second = await store.decide_approval(run.id, 1, ApprovalDecision.APPROVED, "mallory", T0)
    assert first == second and second.decided_by == "carol" and second.decision is ApprovalDecision.REJECTED


async def test_audit_entries_are_kept(store: RunStore) -> None:
    run, _ = await store.create_run(new("k"))
    await store.add_audit(AuditEntry(T0, AuditKind.STEP_APPLIED, run.id, "rb", "tocsin", "scaled", False, "41",
                                     {"params": {"replicas": 3}}))
    if isinstance(store, MemoryStore):
        kept = [(a.run_id, a.message, a.details) for a in store.audit]
    else:
        from sqlalchemy import select

        from webhook.remediation.tables import remediation_audit as audit

        assert isinstance(store, SqlRunStore)
        rows = await store.db.read(lambda c: c.execute(select(audit)).mappings().all())
        kept = [(run.id, r["message"], r["details"]) for r in rows]
    assert kept == [(run.id, "scaled", {"params": {"replicas": 3}})]


async def test_sql_claim_rechecks_the_cooldown(db_url: str) -> None:
    """Two replicas may both pass the guards for different episodes; the claim is the last word."""
    db = Database.from_url(db_url)
    upgrade(db.engine)
    store = SqlRunStore(db, cooldown_of=lambda runbook: timedelta(minutes=30) if runbook == "rb" else None)
    try:
        a, _ = await store.create_run(new("a"))
        b, _ = await store.create_run(new("b"))
        assert await store.claim_target(a.id, "deployment/shop/api", TARGET, T0)
        await store.transition(a.id, (RunStatus.RUNNING,), at=T0, status=RunStatus.FINISHED,
                               outcome=Outcome.VERIFIED)
        assert not await store.claim_target(b.id, "deployment/shop/api", TARGET, T0 + timedelta(minutes=10))
        assert await store.claim_target(b.id, "deployment/shop/api", TARGET, T0 + timedelta(minutes=31))
    finally:
        db.close()


async def test_concurrent_claims_from_two_replicas_leave_one_winner(fresh_pg_url: str) -> None:
    dbs = [Database.from_url(fresh_pg_url) for _ in range(2)]
    upgrade(dbs[0].engine)
    stores = [SqlRunStore(db) for db in dbs]
    try:
        ids = [(await s.create_run(new(f"k{i}")))[0].id for i, s in enumerate(stores * 4)]
        results = await asyncio.gather(*(stores[i % 2].claim_target(run_id, "node/n1", {}, T0)
                                         for i, run_id in enumerate(ids)))
        assert sorted(results) == [False] * 7 + [True]
    finally:
        for db in dbs:
            db.close()
