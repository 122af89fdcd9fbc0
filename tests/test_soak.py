"""A bounded soak: mixed load (lookups, records with approvals, redemptions) on loopback against
a real `ledger serve` on PostgreSQL, then: no request failed, the server's memory (RSS from
/proc) has not grown past warm-up, and `verify` passes.

Bounded in time and in count: LEDGER_SOAK_SECONDS (default 20 in the normal run; `make soak`
runs 120) and LEDGER_SOAK_MAX_REQUESTS (default 50 000).  Four client threads, each with its
own volunteers, so records never overlap and every write has its own Idempotency-Key.
"""
from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from ledger.service import bulk
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context
from tests import factories as f
from tests.conftest import SECRET, create_pg_database, drop_pg_database
from tests.faults.server import LedgerServer, auth

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("LEDGER_SOAK_SECONDS", "20"))
MAX_REQUESTS = int(os.environ.get("LEDGER_SOAK_MAX_REQUESTS", "50000"))
THREADS = 4
VOLUNTEERS_PER_THREAD = 3
# after warm-up the server's RSS may move a little (allocator arenas, caches filling); a leak
# of even 1 KiB a request would pass these bounds within the first minute
RSS_SLACK_KIB = 12 * 1024
# each turn of a worker makes at least 4 requests and records one service; 20 turns a day
DAYS = MAX_REQUESTS // (4 * THREADS * VOLUNTEERS_PER_THREAD * 20) + 1
RSS_SLACK_SHARE = 0.10


@pytest.fixture
def pg_url():
    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)


def _seed(ctx: Context) -> dict:
    units = f.tree(ctx)
    recorder, recorder_token = f.user(ctx, "unit_admin", units["station_a"])
    approver, approver_token = f.user(ctx, "unit_admin", units["institute"])
    _, auditor = f.user(ctx, "auditor")
    activity = f.activity(ctx, units["station_a"], dt.date(2025, 3, 1), title="长期志愿服务")
    from ledger.redemption import desks, stock

    with ctx.uow() as uow:
        desk = desks.create_desk(uow.session, approver, desks.CreateDesk(units["station_a"], f.ref("D"), "爱心超市",
                                                                        (1, 2, 3, 4, 5, 6, 7)))
        item = desks.add_item(uow.session, approver, desk.id, desks.AddItem("肥皂", 1))
        stock.receive(uow.session, approver, desk.id, item.id, 1_000_000, "donation", "", ctx.today())
        uow.commit()
    _, operator = f.user(ctx, "desk_operator", units["station_a"], desk_id=desk.id)
    people = [f.volunteer(ctx, units["station_a"], id_number=f.random_id_number(f"19{60 + n}0101"))
              for n in range(THREADS * VOLUNTEERS_PER_THREAD)]
    services = [bulk.ApprovedService(v, f.activity_on(ctx, activity, dt.date(2024, 5, day)),
                                     dt.datetime(2024, 5, day, 8), dt.datetime(2024, 5, day, 16),
                                     recorded_by=recorder.user_id) for v in people for day in range(1, 9)]
    with ctx.uow() as uow:  # 8 days × 480 min × 10 points an hour = 640 points each to spend
        bulk.post_approved(uow.session, approver, services, ctx.local_now())
        uow.commit()
    return {"recorder": recorder_token, "approver": approver_token, "auditor": auditor, "operator": operator,
            "activity": activity, "desk": desk.id, "item": item.id, "people": people,
            "day_activity": {day: f.activity_on(ctx, activity, day)  # the days the load records on
                             for day in (dt.date(2025, 1, 1) + dt.timedelta(days=n) for n in range(DAYS))}}


class Load:
    def __init__(self, server: LedgerServer, world: dict):
        self.server, self.world = server, world
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.count = 0
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + SECONDS

    def more(self) -> bool:
        return time.monotonic() < self.deadline and self.count < MAX_REQUESTS and len(self.failures) < 20

    def call(self, client: httpx.Client, method: str, path: str, expected: int, token: str, write: bool = False,
             **kwargs) -> httpx.Response | None:
        headers = auth(token, str(uuid.uuid4()) if write else None)
        try:
            response = client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            with self.lock:
                self.failures.append(f"{method} {path}: {type(exc).__name__}")
            return None
        with self.lock:
            self.count += 1
            self.statuses[(method, path.split("/")[1], response.status_code)] += 1
            if response.status_code != expected:
                self.failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response if response.status_code == expected else None

    def worker(self, index: int) -> None:
        w = self.world
        mine = w["people"][index * VOLUNTEERS_PER_THREAD:(index + 1) * VOLUNTEERS_PER_THREAD]
        slot = 0
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            while self.more():
                volunteer = mine[slot % len(mine)]
                turn = slot // len(mine)
                start = dt.datetime(2025, 1, 1, 6) + dt.timedelta(days=turn // 20, minutes=35 * (turn % 20))
                slot += 1
                self.call(client, "GET", f"/volunteers/{volunteer}/balances", 200, w["approver"])
                self.call(client, "GET", f"/volunteers/{volunteer}/history?limit=20", 200, w["approver"])
                made = self.call(client, "POST", "/service-records", 201, w["recorder"], write=True, json={
                    "volunteer_id": volunteer, "activity_id": w["day_activity"][start.date()],
                    "started_at": start.isoformat(),
                    "ended_at": (start + dt.timedelta(minutes=20)).isoformat()})
                if made is not None:
                    self.call(client, "POST", f"/service-records/{made.json()['id']}/approve", 200,
                              w["approver"], write=True)
                self.call(client, "POST", f"/desks/{w['desk']}/redemptions", 201, w["operator"], write=True,
                          json={"volunteer_id": volunteer, "items": [{"item_id": w["item"], "quantity": 1,
                                                                       "price": 1}]})
                self.call(client, "GET", "/volunteers?limit=20", 200, w["approver"])


def test_soak_mixed_load(pg_url, tmp_path):
    engine = make_engine(pg_url)
    ctx = Context(engine=engine, secret_key=SECRET, deployment_id="test-county")
    world = _seed(ctx)
    server = LedgerServer(pg_url, tmp_path / "server", scheduler=True).start()
    try:
        load = Load(server, world)
        started = time.monotonic()
        threads = [threading.Thread(target=load.worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(min(SECONDS * 0.3, 30))  # warm-up: pools, caches, allocator arenas fill
        rss_warm = server.rss_kib()
        samples = [rss_warm]
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            if server.is_alive():
                samples.append(server.rss_kib())
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        rss_end = server.rss_kib()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            verified = client.get("/ledger/verify", headers=auth(world["auditor"])).json()
        summary = (f"soak: {load.count} requests in {elapsed:.0f} s ({load.count / elapsed:.0f}/s), "
                   f"{len(load.failures)} failed; RSS warm {rss_warm} KiB, end {rss_end} KiB, "
                   f"max {max(samples)} KiB; verify ok={verified.get('ok')}; {sorted(load.statuses.items())}")
        print(summary)
        (tmp_path / "soak-summary.txt").write_text(summary)
        assert load.failures == [], load.failures[:5]
        assert server.is_alive()
        assert rss_end <= rss_warm * (1 + RSS_SLACK_SHARE) + RSS_SLACK_KIB, summary
        assert verified["ok"] is True, verified
        assert load.count > 100  # the load really ran
    finally:
        server.stop()
        engine.dispose()
