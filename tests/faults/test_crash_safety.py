"""Crash safety: SIGKILL the real server in the middle of writes, restart it, send the same
requests again with the same Idempotency-Keys — every record is posted exactly once,
`verify` passes, and nothing is half-posted.

PostgreSQL only (a real `ledger serve` subprocess against a database of its own on the
shared test server; loopback port).  The kill lands while the server holds an open database
transaction: the test watches pg_stat_activity for it, so the cut is really mid-write.
"""
from __future__ import annotations

import datetime as dt
import io
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from ledger.service.tables import ServiceRecord
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context
from tests import factories as f
from tests.conftest import SECRET, create_pg_database, drop_pg_database
from tests.faults.server import LedgerServer, auth
from tests.faults.workload import build_county, check_posted_exactly_once, expect, send_job

TRANSPORT_ERRORS = (httpx.TransportError,)


@pytest.fixture
def pg_ctx():
    """A migrated PostgreSQL database of its own (the server subprocess shares it)."""
    url = create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    yield Context(engine=engine, secret_key=SECRET, deployment_id="test-county")
    engine.dispose()
    drop_pg_database(url)


def _database_name(ctx: Context) -> str:
    return ctx.engine.url.database


def wait_for_open_write(ctx: Context, min_age: str = "10 milliseconds", timeout: float = 30,
                        while_alive: threading.Thread | None = None) -> bool:
    """Wait until some other session holds a transaction open for `min_age` (a write in progress)."""
    watcher = create_engine(ctx.engine.url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + timeout
    try:
        with watcher.connect() as conn:
            while time.monotonic() < deadline and (while_alive is None or while_alive.is_alive()):
                busy = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' AND xact_start IS NOT NULL "
                    "AND now() - xact_start > CAST(:age AS interval)"), {"db": _database_name(ctx), "age": min_age}
                ).scalar_one()
                if busy:
                    return True
                time.sleep(0.01)
    finally:
        watcher.dispose()
    return False


def kill_mid_stream(ctx: Context, server, jobs, first_pass, outcome: dict, stop: threading.Event,
                    why: str, min_age: str = "10 milliseconds") -> None:
    """Send `jobs` from 6 threads; once a third are done and a write is open, SIGKILL the server."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(first_pass, job) for job in jobs]
        while outcome["done"] < len(jobs) // 3:
            time.sleep(0.01)
        assert wait_for_open_write(ctx, min_age=min_age), why
        server.kill()  # mid-stream, while a database transaction is open
        stop.set()
        for future in futures:
            future.result()


def test_sigkill_in_the_middle_of_a_stream_of_records_then_resend(pg_ctx, tmp_path):
    county = build_county(pg_ctx, volunteers=8)
    jobs = county.plan(records_per_volunteer=6)  # 48 records, 96 writes
    server = LedgerServer(pg_ctx.engine.url.render_as_string(hide_password=False), tmp_path / "server").start()
    outcome = {"done": 0, "cut": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def first_pass(job):
        if stop.is_set():
            return
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                send_job(client, county, job)
            with lock:
                outcome["done"] += 1
        except TRANSPORT_ERRORS:
            with lock:
                outcome["cut"] += 1

    try:
        kill_mid_stream(pg_ctx, server, jobs, first_pass, outcome, stop, "no write in flight to cut")
        assert 0 < outcome["done"] < len(jobs)
        with pg_ctx.uow() as uow:
            half = uow.session.execute(select(func.count()).select_from(ServiceRecord).where(
                ServiceRecord.volunteer_id.in_(county.volunteers))).scalar_one()
        assert half < len(jobs)

        server.start()  # the same database, a new process
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for job in jobs:  # everything again, with the same keys
                first_record, first_approval = job.record, job.approved
                job.record = job.approved = None
                send_job(client, county, job)
                if first_record is not None:  # a replay returns the first answer, not a new record
                    assert job.record == first_record
                if first_approval is not None:
                    assert job.approved == first_approval
            verified = client.get("/ledger/verify", headers=auth(county.auditor_token)).json()
        assert verified["ok"] is True, verified
        figures = check_posted_exactly_once(county)
        assert figures["records"] == len(jobs)
        print(f"crash/records: {len(jobs)} records, {outcome['done']} done before SIGKILL, "
              f"{outcome['cut']} requests cut or refused, {len(jobs) * 2} writes resent")
    finally:
        server.stop()


def _taizhang(station_name: str, people: int, per_person: int) -> tuple[bytes, int]:
    """A 台账 CSV of people × per_person non-overlapping one-hour services on 2026-10-12."""
    lines = ["序号,姓名,身份证号,联系电话,所属站点,活动名称,服务类别,服务日期,开始时间,结束时间,服务时长,确认人"]
    n = 0
    for person in range(people):
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=person * 37 + secrets.randbelow(30))
        id_number = f.random_id_number(birth.strftime("%Y%m%d"))  # distinct birth dates: no clash
        phone = "139" + f"{secrets.randbelow(10**8):08d}"
        for k in range(per_person):
            n += 1
            start, end = 7 + k, 8 + k
            lines.append(f"{n},志愿者{person:04d},{id_number},{phone},{station_name},秋季环境整治,卫生环保,"
                         f"2026-10-12,{start:02d}:00,{end:02d}:00,1小时,王站长")
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"), n


def _upload(client: httpx.Client, token: str, key: str, data: bytes) -> httpx.Response:
    return client.post("/imports", headers=auth(token, key),
                       files={"file": ("台账-十月.csv", io.BytesIO(data), "text/csv")})


def _kill_during(server: LedgerServer, ctx: Context, send) -> dict:
    """Send a request in a thread and SIGKILL the server while its transaction is open."""
    seen: dict = {}

    def run():
        try:
            seen["response"] = send()
        except TRANSPORT_ERRORS as exc:
            seen["error"] = type(exc).__name__

    thread = threading.Thread(target=run)
    thread.start()
    seen["cut_mid_transaction"] = wait_for_open_write(ctx, min_age="300 milliseconds", while_alive=thread)
    server.kill()
    thread.join(timeout=60)
    return seen


def test_sigkill_in_the_middle_of_a_bulk_import_and_of_its_approval_then_resend(pg_ctx, tmp_path):
    units = f.tree(pg_ctx)
    _, importer = f.user(pg_ctx, "unit_admin", units["station_a"])
    _, approver = f.user(pg_ctx, "unit_admin", units["institute"])
    _, auditor = f.user(pg_ctx, "auditor")
    data, rows = _taizhang("东风村新时代文明实践站", people=150, per_person=4)  # 600 rows
    import_key, approve_key = f"imp-{secrets.token_hex(4)}", f"impok-{secrets.token_hex(4)}"
    server = LedgerServer(pg_ctx.engine.url.render_as_string(hide_password=False), tmp_path / "server").start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            cut = _kill_during(server, pg_ctx, lambda: _upload(client, importer, import_key, data))
        assert cut["cut_mid_transaction"], "the import finished before it could be cut"
        assert "error" in cut, cut
        with pg_ctx.uow() as uow:  # all or nothing: the cut import left no row behind
            assert uow.session.execute(select(func.count()).select_from(ServiceRecord).where(
                ServiceRecord.unit_id == units["station_a"])).scalar_one() == 0

        server.start()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            imported = _upload(client, importer, import_key, data)
            expect(imported, 201)
            batch = imported.json()["batch"]
            assert imported.json()["records"] == rows
            cut = _kill_during(server, pg_ctx, lambda: client.post(f"/imports/{batch}/approve",
                                                                    headers=auth(approver, approve_key)))
        assert cut["cut_mid_transaction"], "the approval finished before it could be cut"

        server.start()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            again = _upload(client, importer, import_key, data)  # the same key: the first answer
            assert again.status_code == 201 and again.json() == imported.json()
            assert again.headers.get("Idempotent-Replayed") == "true"
            approved = client.post(f"/imports/{batch}/approve", headers=auth(approver, approve_key))
            expect(approved, 200)
            assert approved.json()["approved"] == rows
            replay = client.post(f"/imports/{batch}/approve", headers=auth(approver, approve_key))
            assert replay.json() == approved.json()
            summary = client.get(f"/imports/{batch}", headers=auth(approver)).json()
            verified = client.get("/ledger/verify", headers=auth(auditor)).json()
        assert summary["by_status"] == {"posted": rows}
        assert verified["ok"] is True, verified
        with pg_ctx.uow() as uow:
            s = uow.session
            statuses = s.execute(select(ServiceRecord.status, func.count()).where(
                ServiceRecord.unit_id == units["station_a"]).group_by(ServiceRecord.status)).all()
            assert dict(statuses) == {"posted": rows}  # one batch, posted once
            posted_once = s.execute(text(
                "SELECT count(*) FROM service_records r WHERE r.unit_id = :u AND "
                "(SELECT count(*) FROM transactions t WHERE t.service_record_id = r.id) = 1"),
                {"u": units["station_a"]}).scalar_one()
            assert posted_once == rows
        print(f"crash/import: {rows} rows; import cut mid-transaction, resent; approval cut "
              f"mid-transaction, resent; {server.starts} server starts")
    finally:
        server.stop()


def test_sigkill_in_the_middle_of_a_stream_of_redemptions_then_resend(pg_ctx, tmp_path):
    from ledger.book.accounts import balance
    from ledger.redemption import desks, stock
    from ledger.redemption.tables import DeskItem, Receipt
    from ledger.service import bulk

    units = f.tree(pg_ctx)
    recorder, _ = f.user(pg_ctx, "unit_admin", units["station_a"])
    manager, _ = f.user(pg_ctx, "unit_admin", units["institute"])
    _, auditor = f.user(pg_ctx, "auditor")
    activities = {d: f.activity(pg_ctx, units["station_a"], dt.date(2024, 5, d)) for d in (1, 2)}  # one a day
    people = [f.volunteer(pg_ctx, units["station_a"], id_number=f.random_id_number(f"19{70 + n}0202"))
              for n in range(6)]
    with pg_ctx.uow() as uow:  # 2 days × 480 min × 10 points an hour = 160 points each
        s = uow.session
        bulk.post_approved(s, manager, [bulk.ApprovedService(v, activities[d], dt.datetime(2024, 5, d, 8),
                                                             dt.datetime(2024, 5, d, 16), recorded_by=recorder.user_id)
                                        for v in people for d in (1, 2)], pg_ctx.local_now())
        desk = desks.create_desk(s, manager, desks.CreateDesk(units["station_a"], f.ref("D"), "爱心超市",
                                                              (1, 2, 3, 4, 5, 6, 7)))
        item = desks.add_item(s, manager, desk.id, desks.AddItem("大米", 3))
        stock.receive(s, manager, desk.id, item.id, 1000, "donation", "", pg_ctx.today())
        uow.commit()
    _, operator = f.user(pg_ctx, "desk_operator", units["station_a"], desk_id=desk.id)
    run = secrets.token_hex(4)
    per_person = 12  # 12 × 3 = 36 of 160 points each
    jobs = [(v, f"redeem-{run}-{v}-{k}") for k in range(per_person) for v in people]
    body = lambda v: {"volunteer_id": v, "items": [{"item_id": item.id, "quantity": 1, "price": 3}]}  # noqa: E731
    first: dict[str, dict] = {}
    outcome = {"done": 0, "cut": 0}
    lock = threading.Lock()
    stop = threading.Event()
    server = LedgerServer(pg_ctx.engine.url.render_as_string(hide_password=False), tmp_path / "server").start()

    def first_pass(job):
        volunteer, key = job
        if stop.is_set():
            return
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                response = client.post(f"/desks/{desk.id}/redemptions", json=body(volunteer),
                                       headers=auth(operator, key))
            expect(response, 201)
            with lock:
                first[key] = response.json()
                outcome["done"] += 1
        except TRANSPORT_ERRORS:
            with lock:
                outcome["cut"] += 1

    try:
        kill_mid_stream(pg_ctx, server, jobs, first_pass, outcome, stop, "no redemption in flight to cut",
                        min_age="20 milliseconds")
        assert 0 < outcome["done"] < len(jobs)

        server.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for volunteer, key in jobs:
                response = client.post(f"/desks/{desk.id}/redemptions", json=body(volunteer),
                                       headers=auth(operator, key))
                expect(response, 201)
                if key in first:
                    assert response.json() == first[key]  # the first receipt, not a second one
            verified = client.get("/ledger/verify", headers=auth(auditor)).json()
        assert verified["ok"] is True, verified
        with pg_ctx.uow() as uow:
            s = uow.session
            receipts = s.execute(select(Receipt.volunteer_id, func.count()).where(Receipt.desk_id == desk.id)
                                 .group_by(Receipt.volunteer_id)).all()
            assert dict(receipts) == {v: per_person for v in people}  # each redeemed exactly once
            assert all(balance(s, "volunteer_points", v) == 160 - 3 * per_person for v in people)
            assert s.get(DeskItem, item.id).stock == 1000 - len(jobs)
            assert balance(s, "desk_points_redeemed", desk.id) == 3 * len(jobs)
        print(f"crash/redemptions: {len(jobs)} redemptions, {outcome['done']} done before SIGKILL, "
              f"{outcome['cut']} cut or refused; all resent: each posted once, stock and points exact")
    finally:
        server.stop()
