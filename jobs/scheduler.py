"""APScheduler wiring (3.x): the only module that imports APScheduler.

Jobs are stored in our own database (SQLAlchemyJobStore on the `apscheduler_jobs` table that
the first migration creates).  At start, every job first catches up the periods it missed
while the service was down; then the scheduler fires it on its cron.  Each firing runs
through `jobs.runner.run_period`, keyed by period, so two processes never run one period twice.
"""
from __future__ import annotations

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from jobs.runner import all_jobs, catch_up, job_named
from ledger.store.uow import Context

log = logging.getLogger("ledger.jobs")
_CONTEXTS: dict[str, Context] = {}


def fire(job_name: str, context_key: str) -> None:
    """What the scheduler calls: catch up every due period of one job (module-level, picklable)."""
    ctx = _CONTEXTS[context_key]
    done = catch_up(ctx, job_named(job_name))
    if done:
        log.info("job %s ran for %s", job_name, ", ".join(done))


def build_scheduler(ctx: Context, timezone: str = "Asia/Shanghai") -> BackgroundScheduler:
    """A background scheduler with its job store in the ledger's database."""
    key = str(id(ctx))
    _CONTEXTS[key] = ctx
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=ctx.engine, tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=timezone,
    )
    for job in all_jobs():
        scheduler.add_job(fire, CronTrigger(timezone=timezone, **job.cron), args=[job.name, key],
                          id=job.name, name=job.description or job.name, replace_existing=True)
    return scheduler


def start(ctx: Context, timezone: str = "Asia/Shanghai") -> BackgroundScheduler:
    """Catch up missed periods, then start the scheduler."""
    for job in all_jobs():
        try:
            catch_up(ctx, job)
        except Exception:  # noqa: BLE001 - one failing job must not stop the service
            log.exception("catch-up of %s failed; it will be retried on its schedule", job.name)
    scheduler = build_scheduler(ctx, timezone)
    scheduler.start()
    return scheduler


def attach(app, ctx: Context, settings) -> None:
    """Start the scheduler with the app and stop it on shutdown."""
    state = {}

    @app.on_event("startup")
    def _start() -> None:
        state["scheduler"] = start(ctx, settings.timezone)

    @app.on_event("shutdown")
    def _stop() -> None:
        scheduler = state.get("scheduler")
        if scheduler is not None:
            scheduler.shutdown(wait=False)
