"""A county with volunteers, and a stream of client writes (record, then approve) with keys.

Every write has its own Idempotency-Key, fixed in advance, so a test can send the same
stream again after a crash and expect each record to be posted exactly once.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select

from ledger.book.accounts import balances_of
from ledger.book.integrity import verify
from ledger.book.tables import Posting, Transaction
from ledger.service.tables import ServiceRecord
from ledger.store.tables import IdempotencyKey
from ledger.store.uow import Context
from tests import factories as f
from tests.faults.server import auth

SERVICE_DAY = dt.date(2026, 10, 12)  # no date tag, no holiday: 10 points an hour
MINUTES = 25  # 25 min = 0.4167 h × 10 = 4.17 → 4 points (half up)
POINTS = 4


@dataclass
class Job:
    """One service record to create and approve, with its two idempotency keys."""

    volunteer_id: int
    started_at: dt.datetime
    record_key: str
    approve_key: str
    record: dict | None = None  # the first answer seen to the record request
    approved: dict | None = None

    @property
    def body(self) -> dict:
        return {"volunteer_id": self.volunteer_id, "activity_id": 0,
                "started_at": self.started_at.isoformat(),
                "ended_at": (self.started_at + dt.timedelta(minutes=MINUTES)).isoformat(),
                "confirmed_by": "站长"}


@dataclass
class County:
    """Units, users with tokens, volunteers and one activity, built through the domain."""

    ctx: Context
    units: dict
    recorder_token: str
    approver_token: str
    admin_token: str
    auditor_token: str
    volunteers: list[int]
    activity_id: int
    jobs: list[Job] = field(default_factory=list)

    def plan(self, records_per_volunteer: int) -> list[Job]:
        """Non-overlapping records: volunteer v's k-th record starts at 08:00 + 30 min × k."""
        run = secrets.token_hex(4)
        jobs = []
        for k in range(records_per_volunteer):
            for volunteer_id in self.volunteers:
                start = dt.datetime.combine(SERVICE_DAY, dt.time(8, 0)) + dt.timedelta(minutes=30 * k)
                jobs.append(Job(volunteer_id, start, f"rec-{run}-{volunteer_id}-{k}",
                                f"app-{run}-{volunteer_id}-{k}"))
        self.jobs.extend(jobs)
        return jobs

    def record_body(self, job: Job) -> dict:
        return {**job.body, "activity_id": self.activity_id}


def build_county(ctx: Context, volunteers: int = 8) -> County:
    """A fresh county (center → institute → two stations) with users and volunteers."""
    units = f.tree(ctx)
    _, recorder = f.user(ctx, "unit_admin", units["station_a"])
    _, approver = f.user(ctx, "unit_admin", units["institute"])
    _, admin = f.user(ctx, "admin")
    _, auditor = f.user(ctx, "auditor")
    people = [f.volunteer(ctx, units["station_a"]) for _ in range(volunteers)]
    activity_id = f.activity(ctx, units["station_a"], SERVICE_DAY, title="秋季环境整治")
    return County(ctx, units, recorder, approver, admin, auditor, people, activity_id)


def send_job(client: httpx.Client, county: County, job: Job) -> None:
    """Record and approve one service; raises on a transport error or a bad status."""
    response = client.post("/service-records", json=county.record_body(job),
                           headers=auth(county.recorder_token, job.record_key))
    expect(response, 201)
    if job.record is None:
        job.record = response.json()
    record_id = response.json()["id"]
    response = client.post(f"/service-records/{record_id}/approve",
                           headers=auth(county.approver_token, job.approve_key))
    expect(response, 200)
    if job.approved is None:
        job.approved = response.json()


class UnexpectedStatus(AssertionError):
    def __init__(self, response: httpx.Response):
        super().__init__(f"{response.request.method} {response.request.url.path}: "
                         f"{response.status_code} {response.text[:500]}")
        self.response = response


def expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise UnexpectedStatus(response)


def check_posted_exactly_once(county: County) -> dict:
    """Every planned record exists once, is posted once, and its postings are whole."""
    with county.ctx.uow() as uow:
        s = uow.session
        records = s.execute(select(ServiceRecord).where(
            ServiceRecord.volunteer_id.in_(county.volunteers))).scalars().all()
        by_slot: dict[tuple, list] = {}
        for record in records:
            by_slot.setdefault((record.volunteer_id, record.started_at), []).append(record)
        planned = {(job.volunteer_id, job.started_at) for job in county.jobs}
        assert set(by_slot) == planned, "records missing or unplanned"
        assert all(len(found) == 1 for found in by_slot.values()), "a record was created twice"
        assert {r.status for r in records} == {"posted"}, "a record was left pending"
        for record in records:
            txs = s.execute(select(Transaction).where(Transaction.service_record_id == record.id)).scalars().all()
            assert [tx.kind for tx in txs] == ["service"], f"record {record.id} posted {len(txs)} times"
            assert record.transaction_id == txs[0].id
            legs = s.execute(select(func.count()).select_from(Posting)
                             .where(Posting.transaction_id == txs[0].id)).scalar_one()
            assert legs == 4, f"transaction {txs[0].id} has {legs} postings (half-posted?)"
        per_volunteer = {v: sum(1 for job in county.jobs if job.volunteer_id == v) for v in county.volunteers}
        for volunteer_id, count in per_volunteer.items():
            balances = balances_of(s, volunteer_id, ["volunteer_minutes", "volunteer_points"])
            assert balances == {"volunteer_minutes": MINUTES * count, "volunteer_points": POINTS * count}
        keys = [k for job in county.jobs for k in (job.record_key, job.approve_key)]
        stored = s.execute(select(func.count()).select_from(IdempotencyKey)
                           .where(IdempotencyKey.key.in_(keys))).scalar_one()
        assert stored == len(keys)
        report = verify(s)
        assert report.ok, report.as_dict()
        return {"records": len(records), "keys": stored}
