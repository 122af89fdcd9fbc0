"""Many writers at once for the same volunteers: record + approve, reverse, and retried
idempotency keys sent twice at the same time, through `ledger.usecase.write` as the API does.

PostgreSQL: 16 real threads, row locks on the volunteer.  SQLite serialises writers (BEGIN
IMMEDIATE), so it gets a lighter run with 4 threads.  Either way the balances come out exact,
nothing is posted twice, and `verify` is clean.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from sqlalchemy import func, select

from ledger.book.accounts import balance
from ledger.book.integrity import verify
from ledger.book.tables import Transaction
from ledger.service import records as service_records
from ledger.service.tables import ServiceRecord
from ledger.store.usecase import read, write
from tests import factories as f

VOLUNTEERS = 3
ROUNDS = 3
MINUTES = 60  # one hour each, 10 points under the default policy


def _is_reversed(k: int) -> bool:
    """The k-th record of a volunteer is reversed when k % 4 == 1."""
    return k % 4 == 1


def test_sixteen_threads_post_and_reverse_for_the_same_volunteers(fresh_ctx):
    ctx = fresh_ctx
    threads = 4 if ctx.is_sqlite else 16
    jobs = threads * ROUNDS  # PostgreSQL: 48 records, 16 per volunteer; SQLite: 12, 4 each
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    volunteers = [f.volunteer(ctx, units["station_a"]) for _ in range(VOLUNTEERS)]
    # one activity a day (a cap per activity sums a volunteer's records in it)
    activities = {k: f.activity(ctx, units["station_a"], dt.date(2026, 10, 8) + dt.timedelta(days=k))
                  for k in range(jobs // VOLUNTEERS + 1)}
    results: dict[tuple[str, int], list[dict]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def job(j: int) -> None:
        volunteer, k = volunteers[j % VOLUNTEERS], j // VOLUNTEERS
        begins = dt.datetime(2026, 10, 8, 9, 0) + dt.timedelta(days=k)  # Oct 8–23: no holiday tags
        command = service_records.RecordService(volunteer_id=volunteer, activity_id=activities[k],
                                                started_at=begins, ended_at=begins + dt.timedelta(minutes=MINUTES))
        created, _ = write(ctx, key=f"rec-{j}", operation="record.create",
                           request={"volunteer": volunteer, "start": begins.isoformat()},
                           fn=lambda s: service_records.record_public(
                               service_records.record_service(s, recorder, command, ctx.local_now())))
        record_id = created["id"]
        approved, _ = write(ctx, key=f"approve-{j}", operation="record.approve", request={"record_id": record_id},
                            fn=lambda s: service_records.record_public(
                                service_records.approve_record(s, approver, record_id)))
        with lock:
            results.setdefault(("record", j), []).append(created)
            results.setdefault(("approve", j), []).append(approved)
        return record_id

    def worker(i: int) -> None:
        try:
            start.wait()
            for r in range(ROUNDS):
                j = r * threads + i
                record_id = job(j)
                twin = r * threads + (i + 1) % threads
                if twin % 4 == 0:  # retry a neighbour's keys while the neighbour sends them
                    job(twin)
                if _is_reversed(j // VOLUNTEERS):
                    reversed_, _ = write(ctx, key=f"reverse-{j}", operation="record.reverse",
                                         request={"record_id": record_id},
                                         fn=lambda s: service_records.record_public(service_records.reverse_record(
                                             s, approver, record_id, "录入错误", dt.date(2026, 11, 1))))
                    assert reversed_["status"] == "reversed"
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []

    # a retried key returned the first result, exactly
    for key, seen in results.items():
        assert all(result["id"] == seen[0]["id"] for result in seen), key
    assert sum(len(seen) > 1 for (kind, _), seen in results.items() if kind == "record") == jobs // 4

    per_volunteer = jobs // VOLUNTEERS
    surviving = sum(1 for k in range(per_volunteer) if not _is_reversed(k))
    # PostgreSQL: 16 records each, k = 1, 5, 9, 13 reversed → 12 × 60 = 720 minutes, 120 points
    # SQLite: 4 records each, k = 1 reversed → 3 × 60 = 180 minutes, 30 points

    def check(s):
        for volunteer in volunteers:
            records = s.execute(select(ServiceRecord.status).where(ServiceRecord.volunteer_id == volunteer)).scalars()
            assert Counter(records) == Counter({"posted": surviving, "reversed": per_volunteer - surviving})
            assert balance(s, "volunteer_minutes", volunteer) == surviving * MINUTES
            assert balance(s, "volunteer_points", volunteer) == surviving * 10
        kinds = Counter(s.execute(select(Transaction.kind).where(Transaction.volunteer_id.in_(volunteers))).scalars())
        reversals = VOLUNTEERS * (per_volunteer - surviving)
        assert kinds == Counter({"service": jobs, "reversal": reversals})
        doubles = s.execute(select(Transaction.service_record_id).where(Transaction.kind == "service")
                            .group_by(Transaction.service_record_id).having(func.count() > 1)).all()
        assert doubles == []
        assert balance(s, "unit_minutes_served", units["station_a"]) == -VOLUNTEERS * surviving * MINUTES
        report = verify(s)
        assert report.ok, report.problems

    read(ctx, check)
