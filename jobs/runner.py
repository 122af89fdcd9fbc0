"""Running a job for one period exactly once, whatever the number of schedulers.

The work and the (job, period) row (`ledger.store.jobruns`) are written in one database
transaction; the unique key on (job, period) means a second run, in this process or another,
writes nothing.
This module does not import APScheduler: tests and the CLI call it directly.
"""
from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ledger.store import jobruns
from ledger.store.uow import Context

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("ledger.jobs")

# Called after each run with (job name, outcome: "ran" | "skipped" | "failed", seconds); the
# web layer adds its metrics here (api/observability.py), so jobs import nothing of it.
RUN_OBSERVERS: list[Callable[[str, str, float], None]] = []


@dataclass(frozen=True)
class Job:
    """A scheduled job: a cron trigger, which periods are due at a time, and the work."""

    name: str
    cron: dict  # APScheduler cron fields, in Asia/Shanghai time
    periods_due: Callable[[dt.datetime], list[str]]  # local now -> periods that should have run
    work: Callable[[Context, Session, str], dict]  # (ctx, session, period) -> result
    description: str = ""
    options: dict = field(default_factory=dict)


def run_period(ctx: Context, job: Job, period: str) -> dict | None:
    """Run `job` for `period` unless it already ran; returns its result, or None if done before."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = _run_period(ctx, job, period)
        outcome = "skipped" if result is None else "ran"
        return result
    finally:
        for observer in RUN_OBSERVERS:
            observer(job.name, outcome, time.perf_counter() - started)


def _run_period(ctx: Context, job: Job, period: str) -> dict | None:
    with ctx.uow() as uow:
        run = jobruns.claim(uow.session, job.name, period)
        if run is None:
            return None
        result = job.work(ctx, uow.session, period)
        if not jobruns.finish(uow, run, result):
            return None
    log.info("job %s ran for %s", job.name, period)
    return result


def catch_up(ctx: Context, job: Job, local_now: dt.datetime | None = None) -> list[str]:
    """Run every period of `job` that is due and has not run yet; returns the periods run."""
    local_now = local_now or ctx.local_now()
    done = []
    for period in job.periods_due(local_now):
        if run_period(ctx, job, period) is not None:
            done.append(period)
    return done


def all_jobs() -> list[Job]:
    """Every job declared in a `JOBS` list by a module of the `jobs` package."""
    import jobs

    found: list[Job] = []
    for info in sorted(pkgutil.iter_modules(jobs.__path__), key=lambda m: m.name):
        if info.name in ("runner", "scheduler"):
            continue
        module = importlib.import_module(f"jobs.{info.name}")
        found.extend(getattr(module, "JOBS", []))
    return found


def job_named(name: str) -> Job:
    """The job with this name."""
    for job in all_jobs():
        if job.name == name:
            return job
    raise KeyError(name)
