"""Scheduled rankings and targets reports: keyed by period, caught up at start, and never run
twice for one period, even by two scheduler processes at once (real threads, PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from jobs import rankings as ranking_jobs
from jobs.runner import all_jobs, catch_up, run_period
from ledger.rankings.tables import RankingRun, TargetReport
from ledger.store.db import make_engine
from ledger.store.tables import JobRun
from ledger.store.uow import Context
from tests import factories as f, test_rankings as tr


def _runs(ctx, definition_id, period):
    with ctx.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(RankingRun).where(
            RankingRun.definition_id == definition_id, RankingRun.period == period)).scalar_one()


def test_the_jobs_are_declared_with_their_schedules():
    names = {job.name: job for job in all_jobs()}
    assert {"rankings_monthly", "rankings_quarterly", "rankings_year_end", "targets_quarterly"} <= set(names)
    assert names["rankings_year_end"].periods_due(dt.datetime(2026, 1, 1, 2, 40)) == ["2025"]
    assert names["rankings_monthly"].periods_due(dt.datetime(2026, 3, 1, 2, 0)) == ["2026-02"]
    assert names["rankings_quarterly"].periods_due(dt.datetime(2026, 4, 1, 2, 20)) == ["2026-Q1"]
    assert names["targets_quarterly"].cron == {"month": "1,4,7,10", "day": 2, "hour": 3, "minute": 0}


def test_year_end_job_runs_once_per_period_and_catches_up(ctx):
    units, v, _, _ = tr.build(ctx)
    definition = tr.define(ctx, units)
    job = ranking_jobs.ranking_job("year", name=f.ref("year_end"), root_unit_id=units["center"])
    # the service was down on 1 January: at start on 3 January it catches up 2025
    assert catch_up(ctx, job, dt.datetime(2026, 1, 3, 8, 0)) == ["2025"]
    assert catch_up(ctx, job, dt.datetime(2026, 1, 3, 8, 0)) == []
    assert run_period(ctx, job, "2025") is None
    assert _runs(ctx, definition["id"], "2025") == 1
    with ctx.uow() as uow:
        run = uow.session.execute(select(RankingRun).where(RankingRun.definition_id == definition["id"])).scalar_one()
        assert run.trigger == "scheduled" and run.shortlisted == 2


def test_targets_job_stores_one_report_per_period(ctx):
    units = f.tree(ctx)
    job = ranking_jobs.targets_job(name=f.ref("targets"), unit_ids=[units["center"]])
    result = run_period(ctx, job, "2025-Q4")
    assert result["due_on"] == "2026-01-05" and len(result["reports"]) == 1
    assert run_period(ctx, job, "2025-Q4") is None
    with ctx.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(TargetReport).where(
            TargetReport.unit_id == units["center"])).scalar_one() == 1


def test_two_schedulers_never_produce_two_runs_for_one_period(ctx):
    if ctx.is_sqlite:
        pytest.skip("the race between two processes is run on PostgreSQL (SQLite serialises writers)")
    units, v, _, _ = tr.build(ctx)
    definition = tr.define(ctx, units)
    job = ranking_jobs.ranking_job("year", name=f.ref("year_end"), root_unit_id=units["center"])
    url = ctx.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url, pool_size=2) for _ in range(2)]
    contexts = [Context(engine=engine, secret_key=ctx.secret_key) for engine in engines]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def scheduler(context):
        try:
            barrier.wait()
            results.append(run_period(context, job, "2025"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler, args=(c,)) for c in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert sum(1 for r in results if r is not None) == 1
    assert _runs(ctx, definition["id"], "2025") == 1
    with ctx.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(JobRun).where(
            JobRun.job == job.name)).scalar_one() == 1
