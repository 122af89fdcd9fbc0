"""`python -m bench.statements`: SQL statements and time of one record + approve, in process.

One thread, through the use cases exactly as the API runs them (`ledger.usecase.write`:
idempotency key, the domain function, one commit), in a scratch PostgreSQL database of its
own (`ledger_bench_statements`, dropped and created).  Statements are counted with a
`before_cursor_execute` listener (an executemany counts once); the time is wall time per
record + approve, median and p99.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time

from sqlalchemy import event

from bench.__main__ import context, fresh_pg
from ledger.service import records as service_records
from ledger.store.migrate import upgrade
from ledger.store.usecase import write


def measure(count: int, warmup: int, url: str) -> dict:
    from tests import factories as f

    upgrade(url)
    ctx = context(url, pool=4)
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "admin")
    volunteers = [f.volunteer(ctx, units["station_a"]) for _ in range(50)]
    activity = f.activity(ctx, units["station_a"], dt.date(2026, 1, 1))
    counted = {"n": 0}

    @event.listens_for(ctx.engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        counted["n"] += 1

    def op(i: int) -> tuple[int, int, float]:
        volunteer = volunteers[i % len(volunteers)]
        start = dt.datetime.combine(dt.date(2026, 1, 1) + dt.timedelta(days=i // len(volunteers)), dt.time(9))
        day_activity = f.activity_on(ctx, activity, start.date())  # a service lies on its activity's day
        command = service_records.RecordService(volunteer_id=volunteer, activity_id=day_activity, started_at=start,
                                                ended_at=start + dt.timedelta(minutes=60), confirmed_by="bench")
        t0, n0 = time.perf_counter(), counted["n"]
        made, _ = write(ctx, key=f"s-{i}", operation="record.create", request={"i": i},
                        fn=lambda s: service_records.record_public(
                            service_records.record_service(s, recorder, command, ctx.local_now())))
        n1 = counted["n"]
        write(ctx, key=f"t-{i}", operation="record.approve", request={"record_id": made["id"]},
              fn=lambda s: service_records.record_public(service_records.approve_record(s, approver, made["id"])))
        return n1 - n0, counted["n"] - n1, (time.perf_counter() - t0) * 1000

    for i in range(warmup):
        op(i)
    rows = [op(warmup + i) for i in range(count)]
    times = sorted(r[2] for r in rows)
    ctx.engine.dispose()
    return {"ops": count, "statements_record": statistics.median(r[0] for r in rows),
            "statements_approve": statistics.median(r[1] for r in rows),
            "statements_total": statistics.median(r[0] + r[1] for r in rows),
            "ms_median": round(statistics.median(times), 2),
            "ms_p99": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    url = fresh_pg("ledger_bench_statements")
    print(json.dumps(measure(args.count, args.warmup, url)))


if __name__ == "__main__":
    main()
