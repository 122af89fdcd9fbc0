"""Bulk posting (ledger/service/bulk.py) writes exactly what recording and approving one by one writes.

Two fresh databases get the same organisation, users, volunteers, activities and a published
policy; one posts a list of services record by record (`record_service` + `approve_record`),
the other posts the same list in one `bulk.post_approved` batch.  Every transaction (ids,
keys, memos, content hashes), posting, account balance, star event and record must match,
and `verify` must pass.  The list crosses the day cap, a year boundary, a date tag, a
no-points kind and a star threshold, so pricing and stars are exercised, not just copied.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from ledger.book.integrity import verify
from ledger.errors import Conflict, Forbidden
from ledger.incentives.pricing import default_policy_text
from ledger.incentives.tables import PolicyVersion
from ledger.people.access import SYSTEM
from ledger.people.auth import CreateUser, create_user, principal_for_user
from ledger.people.tables import User
from ledger.service import bulk, records as service_records
from ledger.store.db import make_engine
from ledger.store.uow import Context
from ledger.store.usecase import read
from tests import factories
from tests.conftest import ENGINES, SECRET, drop_pg_database, fresh_database

D = dt.datetime
# (volunteer index, activity index, start, minutes, service kind)
SERVICES = [
    (0, 0, D(2024, 12, 31, 9, 0), 240, None),
    (0, 0, D(2025, 1, 1, 9, 0), 120, None),  # 元旦 is not a date tag of 2025 in the default policy
    (1, 1, D(2025, 3, 5, 8, 0), 480, None),  # monthly 志愿服务日 (5th): ×1.2; 应急 tag ×1.5
    (1, 3, D(2025, 3, 5, 17, 0), 300, None),  # day cap 600: only 120 more minutes count (another activity:
    # a per-activity cap sums the records of one activity)
    (2, 0, D(2025, 4, 2, 14, 0), 90, "培训学习"),  # hours, no points: the PTS legs are zero
    (0, 2, D(2025, 6, 1, 8, 0), 180, None),  # at a unit with a published policy (12 pts/h)
    (1, 0, D(2025, 6, 2, 8, 0), 45, None),
    (2, 2, D(2025, 6, 3, 8, 0), 200, None),
]
POLICY_12 = default_policy_text().replace("per_hour = 10 ", "per_hour = 12 ").replace(
    'funding = "county"', 'funding = "unit"').replace("hours = 100\n", "hours = 3\n")


def _world(ctx: Context) -> dict:
    """Organisation, users (fixed names: the actor is hashed), volunteers, activities, a policy."""
    units = factories.tree(ctx)
    with ctx.uow() as uow:
        s = uow.session
        recorder = create_user(s, SYSTEM, CreateUser(username="recorder", role="admin"))
        approver = create_user(s, SYSTEM, CreateUser(username="approver", role="admin"))
        s.add(PolicyVersion(unit_id=units["station_b"], version=1, effective_from=dt.date(2025, 5, 1),
                            name="南岭村", document=POLICY_12, content_hash="x" * 64, published_by="t"))
        uow.commit()
        principals = (principal_for_user(s, s.get(User, recorder.id)), principal_for_user(s, s.get(User, approver.id)))
    vols = [factories.volunteer(ctx, units[home], registered_on=dt.date(2020, 1, 1))
            for home in ("station_a", "station_a", "station_b")]
    acts = [factories.activity(ctx, units["station_a"], dt.date(2025, 1, 1)),
            factories.activity(ctx, units["station_b"], dt.date(2025, 3, 5), tags=("应急",), category="医疗健身"),
            factories.activity(ctx, units["station_b"], dt.date(2025, 6, 1)),
            factories.activity(ctx, units["station_b"], dt.date(2025, 3, 5), tags=("应急",), category="医疗健身")]
    return {"units": units, "recorder": principals[0], "approver": principals[1], "vols": vols, "acts": acts,
            "ctx": ctx}


def _act(world: dict, index: int, start: dt.datetime) -> int:
    """Activity `index` of the world, or its twin on the service's day (a service lies on its activity's day)."""
    return factories.activity_on(world["ctx"], world["acts"][index], start.date())


def _one_by_one(ctx: Context, world: dict, services: list[tuple] = SERVICES) -> None:
    for v, a, start, minutes, kind in services:
        with ctx.uow() as uow:
            record = service_records.record_service(uow.session, world["recorder"], service_records.RecordService(
                volunteer_id=world["vols"][v], activity_id=_act(world, a, start), started_at=start,
                ended_at=start + dt.timedelta(minutes=minutes), service_kind=kind), ctx.local_now())
            uow.commit()
            record_id = record.id
        with ctx.uow() as uow:
            service_records.approve_record(uow.session, world["approver"], record_id)
            uow.commit()


def _services(world: dict, services: list[tuple] = SERVICES) -> list[bulk.ApprovedService]:
    return [bulk.ApprovedService(volunteer_id=world["vols"][v], activity_id=_act(world, a, start), started_at=start,
                                 ended_at=start + dt.timedelta(minutes=minutes), service_kind=kind,
                                 recorded_by=world["recorder"].user_id, source="api")
            for v, a, start, minutes, kind in services]


def _in_bulk(ctx: Context, world: dict, services: list[tuple] = SERVICES) -> bulk.BulkResult:
    with ctx.uow() as uow:
        result = bulk.post_approved(uow.session, world["approver"], _services(world, services), ctx.local_now())
        uow.commit()
    return result


SNAPSHOT = {
    "transactions": "SELECT id, kind, idempotency_key, occurred_on, actor, volunteer_id, unit_id, "
                    "policy_version_id, service_record_id, memo, content_hash FROM transactions ORDER BY id",
    "postings": "SELECT transaction_id, account_id, uom, amount, volunteer_id, unit_id, occurred_on "
                "FROM postings ORDER BY transaction_id, account_id",
    "accounts": "SELECT id, kind, owner_id, uom, is_non_negative, balance FROM accounts ORDER BY id",
    "stars": "SELECT volunteer_id, occurred_on, level_before, level_after, transaction_id, policy_version_id, "
             "reason FROM star_events ORDER BY id",
    "records": "SELECT id, volunteer_id, activity_id, unit_id, started_at, ended_at, minutes, service_kind, "
               "status, transaction_id, recorded_by, approved_by FROM service_records ORDER BY id",
}


def _snapshot(ctx: Context) -> dict:
    with ctx.engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(text(sql))] for name, sql in SNAPSHOT.items()}


@pytest.fixture(params=ENGINES)
def twins(request, tmp_path):
    """Two fresh databases of one engine."""
    urls = [fresh_database(request.param, tmp_path) for _ in range(2)]
    engines = [make_engine(url) for url in urls]
    yield [Context(engine=e, secret_key=SECRET, deployment_id="test-county") for e in engines]
    for engine, url in zip(engines, urls):
        engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


def test_a_batch_writes_exactly_what_one_by_one_posting_writes(twins):
    one, many = twins
    world_one, world_many = _world(one), _world(many)
    assert world_one["vols"] == world_many["vols"] and world_one["acts"] == world_many["acts"]
    _one_by_one(one, world_one)
    result = _in_bulk(many, world_many)

    expected, got = _snapshot(one), _snapshot(many)
    for name in SNAPSHOT:
        assert got[name] == expected[name], name
    # 8 records, 8 transactions; the 培训学习 record has no points, so 2 postings instead of 4
    assert (result.records, result.transactions, result.postings) == (8, 8, 30)
    # the capped record: 480 + 300 on one day, cap 600 → 120 credited; 应急 1.5 × 志愿服务日 1.2 ×
    # 医疗健身 1.1 = 1.98; 120 min × 10 pts/h × 1.98 = 39.6 → 40 points (half_up)
    capped = [row for row in got["transactions"] if "120 分钟" in row[9] and str(row[3]) == "2025-03-05"]
    assert len(capped) == 1 and "40 积分" in capped[0][9]
    # station_b's published policy (12 pts/h, funded by the home unit, 1st star at 3 hours)
    assert any("激励办法 单位" in row[9] and "180 分钟，36 积分" in row[9] for row in got["transactions"])
    assert got["stars"], "the 3-hour first star of the published policy was reached"
    assert read(many, verify).ok


def test_verify_passes_and_a_second_batch_continues_the_caps_of_the_first(fresh_ctx):
    world = _world(fresh_ctx)
    _in_bulk(fresh_ctx, world)
    later = [bulk.ApprovedService(volunteer_id=world["vols"][1], activity_id=world["acts"][1],
                                  started_at=D(2025, 3, 5, 23, 0), ended_at=D(2025, 3, 5, 23, 30),
                                  recorded_by=world["recorder"].user_id)]
    with fresh_ctx.uow() as uow:
        bulk.post_approved(uow.session, world["approver"], later, fresh_ctx.local_now())
        uow.commit()
    with fresh_ctx.engine.connect() as conn:
        memo = conn.execute(text("SELECT memo FROM transactions ORDER BY id DESC LIMIT 1")).scalar_one()
    # the day already holds 600 credited minutes (the cap): this half hour credits nothing
    assert memo.endswith("0 分钟，0 积分（激励办法 默认，×1.98）") or "：0 分钟，0 积分" in memo
    assert read(fresh_ctx, verify).ok


def test_a_batch_is_all_or_nothing_and_refuses_overlaps_and_self_approval(ctx):
    world = _world(ctx)
    services = _services(world)
    clash = bulk.ApprovedService(volunteer_id=world["vols"][0], activity_id=_act(world, 0, D(2024, 12, 31)),
                                 started_at=D(2024, 12, 31, 12, 0), ended_at=D(2024, 12, 31, 14, 0),
                                 recorded_by=world["recorder"].user_id)
    with ctx.uow() as uow:
        with pytest.raises(Conflict) as refused:
            bulk.post_approved(uow.session, world["approver"], services + [clash], ctx.local_now())
    assert refused.value.field == "started_at" and refused.value.details["row"] == 8
    with ctx.uow() as uow:
        with pytest.raises(Forbidden):
            bulk.post_approved(uow.session, world["recorder"], services, ctx.local_now())
    with ctx.engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM service_records WHERE volunteer_id IN (:a, :b, :c)"),
                             dict(zip("abc", world["vols"]))).scalar_one()
    assert count == 0
    _in_bulk(ctx, world)
    with ctx.uow() as uow:  # the same services again overlap the stored ones
        with pytest.raises(Conflict):
            bulk.post_approved(uow.session, world["approver"], services[:1], ctx.local_now())


def test_concurrent_batches_sharing_unit_accounts_lose_no_minute(ctx):
    """Two loaders at once (as the generator runs them); rows are locked in account order."""
    if ctx.is_sqlite:
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE); the race is PostgreSQL's")
    import threading

    units = factories.tree(ctx)
    with ctx.uow() as uow:
        recorder = create_user(uow.session, SYSTEM, CreateUser(username=factories.ref("rec"), role="admin"))
        uow.commit()
    approver, _ = factories.user(ctx, "admin")
    acts = [factories.activity(ctx, units[s], dt.date(2025, 1, 1)) for s in ("station_a", "station_b")]
    vols = [factories.volunteer(ctx, units["station_a"]) for _ in range(40)]
    errors: list[BaseException] = []
    day_acts = {(i, day): factories.activity_on(ctx, acts[i], dt.date(2025, 2, day)) for i in (0, 1) for day in range(1, 6)}

    def batch(mine: list[int], day: int) -> None:
        # both batches post at both stations: the same unit accounts, in opposite activity order
        services = [bulk.ApprovedService(v, day_acts[(n + day) % 2, day], D(2025, 2, day, 8 + n % 10, 0),
                                         D(2025, 2, day, 8 + n % 10, 50), recorder.id)
                    for n, v in enumerate(mine)]
        try:
            with ctx.uow() as uow:
                bulk.post_approved(uow.session, approver, services, ctx.local_now())
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    for day in range(1, 6):
        threads = [threading.Thread(target=batch, args=(vols[half::2], day)) for half in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    # 40 volunteers × 5 days × 50 minutes, credited to the two stations' counter accounts
    with ctx.engine.connect() as conn:
        served = conn.execute(text("SELECT -SUM(balance) FROM accounts WHERE kind = 'unit_minutes_served' "
                                   "AND owner_id IN (:a, :b)"), {"a": units["station_a"], "b": units["station_b"]}
                              ).scalar_one()
    assert served == 40 * 5 * 50


def test_a_stored_record_that_credited_less_than_its_minutes_leaves_room_under_the_day_cap(fresh_ctx):
    """The caps read what stored records credited, not their minutes (the batch only bounds by them)."""
    world = _world(fresh_ctx)
    recorder = world["recorder"].user_id
    long_day = bulk.ApprovedService(volunteer_id=world["vols"][0], activity_id=_act(world, 0, D(2025, 2, 3)),
                                    started_at=D(2025, 2, 3, 8, 0), ended_at=D(2025, 2, 3, 18, 0), recorded_by=recorder)
    # in another activity: a per-activity cap sums the records of one activity
    evening = bulk.ApprovedService(volunteer_id=world["vols"][0], activity_id=_act(world, 2, D(2025, 2, 3)),
                                   started_at=D(2025, 2, 3, 19, 0), ended_at=D(2025, 2, 3, 20, 40), recorded_by=recorder)
    for batch in ([long_day], [evening]):
        with fresh_ctx.uow() as uow:
            bulk.post_approved(uow.session, world["approver"], batch, fresh_ctx.local_now())
            uow.commit()
    with fresh_ctx.engine.connect() as conn:
        memos = conn.execute(text("SELECT memo FROM transactions ORDER BY id")).scalars().all()
    # 600 minutes credit 480 (the per-activity cap); the day cap (600) then leaves 120: all 100 count
    assert "：480 分钟，" in memos[0] and "：100 分钟，" in memos[1]
    assert read(fresh_ctx, verify).ok


def test_a_batch_naming_an_unknown_recorder_is_refused_by_field(fresh_ctx):
    ctx = fresh_ctx
    world = _world(ctx)
    services = _services(world)
    stranger = bulk.ApprovedService(volunteer_id=world["vols"][0], activity_id=world["acts"][0],
                                    started_at=D(2024, 11, 2, 9, 0), ended_at=D(2024, 11, 2, 10, 0),
                                    recorded_by=10**9)
    from ledger.errors import NotFound
    with ctx.uow() as uow:
        with pytest.raises(NotFound) as refused:
            bulk.post_approved(uow.session, world["approver"], services + [stranger], ctx.local_now())
    assert refused.value.field == "recorded_by"


def test_keys_are_checked_per_row_again_when_a_trigger_fires_on_insert(ctx):
    """The per-row checks are left on when turning them off would skip someone's INSERT trigger."""
    if ctx.is_sqlite:
        pytest.skip("PostgreSQL's session_replication_role")
    with ctx.uow() as uow:
        s = uow.session
        assert bulk.keys_checked_by_batch(s)  # the test role is a superuser, no INSERT triggers
        s.execute(text("CREATE FUNCTION pg_temp.noop() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ "
                       "LANGUAGE plpgsql"))
        s.execute(text("CREATE TRIGGER postings_audit_test AFTER INSERT ON postings FOR EACH ROW "
                       "EXECUTE FUNCTION pg_temp.noop()"))
        assert not bulk.keys_checked_by_batch(s)
        s.execute(text("SET LOCAL session_replication_role = replica"))
        assert not bulk.keys_checked_by_batch(s)  # only from the ordinary setting
    # rolled back: the trigger is gone
    with ctx.uow() as uow:
        assert bulk.keys_checked_by_batch(uow.session)


def test_the_foreign_keys_stay_in_the_schema_after_a_batch(fresh_ctx):
    if fresh_ctx.is_sqlite:
        pytest.skip("PostgreSQL's catalog")
    _in_bulk(fresh_ctx, _world(fresh_ctx))
    with fresh_ctx.engine.connect() as conn:
        # the keys as declared (conparentid = 0), not PostgreSQL's clones of a key that
        # references a partitioned table (one per partition of `transactions`)
        keys = conn.execute(text("SELECT conrelid::regclass::text, count(*) FROM pg_constraint WHERE contype = 'f' "
                                 "AND conparentid = 0 AND conrelid::regclass::text IN "
                                 "('postings', 'transactions', 'service_records', 'transaction_keys', 'star_events') "
                                 "GROUP BY 1 ORDER BY 1")).all()
        role = conn.execute(text("SHOW session_replication_role")).scalar_one()
    assert keys == [("postings", 2), ("service_records", 5), ("star_events", 3), ("transaction_keys", 2),
                    ("transactions", 5)] and role == "origin"


def test_points_funded_by_the_home_unit_are_funded_by_the_home_unit_on_the_service_date(twins):
    """A volunteer who moved after the service: the old home unit funds it, in bulk as one by one."""
    one, many = twins
    worlds = [_world(one), _world(many)]
    services = [(2, 2, D(2025, 5, 20, 9, 0), 120, None), (2, 2, D(2025, 6, 3, 9, 0), 60, None)]
    for ctx, world in zip((one, many), worlds):
        moved_on, volunteer = dt.date(2025, 5, 25), world["vols"][2]
        with ctx.engine.begin() as conn:  # station_b until 25 May, then station_a
            conn.execute(text("UPDATE memberships SET valid_to = :d WHERE volunteer_id = :v AND is_home"),
                         {"d": moved_on, "v": volunteer})
            conn.execute(text("INSERT INTO memberships (volunteer_id, unit_id, is_home, role, valid_from, created_at) "
                              "VALUES (:v, :u, :h, '志愿者', :d, :now)"),
                         {"v": volunteer, "u": world["units"]["station_a"], "h": True, "d": moved_on,
                          "now": dt.datetime.now(dt.timezone.utc)})
            conn.execute(text("UPDATE volunteers SET home_unit_id = :u WHERE id = :v"),
                         {"u": world["units"]["station_a"], "v": volunteer})
    _one_by_one(one, worlds[0], services)
    _in_bulk(many, worlds[1], services)
    expected, got = _snapshot(one), _snapshot(many)
    for name in SNAPSHOT:
        assert got[name] == expected[name], name
    # station_b's policy funds points by home unit: 20 May by station_b, 3 June by station_a
    funders = {row[5] for row in got["postings"] if row[2] == "PTS" and row[3] < 0}
    assert funders == {worlds[1]["units"]["station_a"], worlds[1]["units"]["station_b"]}
    assert read(many, verify).ok
