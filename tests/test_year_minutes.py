"""Hours this year (`volunteer_year_minutes`): one cached row per volunteer and year, kept in
the same database transaction as the postings (record by record and in bulk), identical to
summing the year's postings on the hours account, and checked by `verify`."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text

from ledger.book.accounts import MINUTES, account_id
from ledger.book.integrity import verify
from ledger.book.postings import Leg, post
from ledger.book.tables import Account, Posting
from ledger.incentives.pricing import minutes_in_year
from ledger.service import bulk, records as service_records
from ledger.store.migrate import upgrade
from tests import factories as f
from tests.test_transfers_support import publish


def _summed(ctx, volunteer_id: int, year: int) -> int:
    """What minutes_in_year used to compute: the year's postings on the hours account."""
    with ctx.uow() as uow:
        return int(uow.session.execute(
            select(func.coalesce(func.sum(Posting.amount), 0)).join(Account, Account.id == Posting.account_id)
            .where(Account.kind == "volunteer_minutes", Account.owner_id == volunteer_id,
                   Posting.occurred_on >= dt.date(year, 1, 1), Posting.occurred_on < dt.date(year + 1, 1, 1))
        ).scalar_one())


def _cached(ctx, volunteer_id: int, year: int) -> int:
    with ctx.uow() as uow:
        return minutes_in_year(uow.session, volunteer_id, year)


def _activity_world(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    return units, recorder, approver


def test_a_reversal_counts_in_the_year_it_is_dated_as_the_postings_do(ctx):
    units, recorder, approver = _activity_world(ctx)
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2020, 1, 1))
    two_ago, last, this = ctx.today().year - 2, ctx.today().year - 1, ctx.today().year
    activity = f.activity(ctx, units["station_a"], dt.date(two_ago, 3, 3))
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(two_ago, 3, 3, 9), 60)
    second = f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(two_ago, 5, 6, 9), 90)
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(last, 2, 2, 9), 30)
    assert [_cached(ctx, volunteer, y) for y in (two_ago, last, this)] == [60 + 90, 30, 0]
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, second, "录入错误", ctx.today())
        uow.commit()
    # the reversal is dated today: two years ago keeps its 150, this year gets −90
    assert [_cached(ctx, volunteer, y) for y in (two_ago, last, this)] == [150, 30, -90]
    assert [_summed(ctx, volunteer, y) for y in (two_ago, last, this)] == [150, 30, -90]


def test_verify_passes_after_mixed_activity_and_names_a_tampered_row(fresh_ctx):
    ctx = fresh_ctx
    units, recorder, approver = _activity_world(ctx)
    publish(ctx, units["center"], dt.date(2019, 1, 1), funding="unit")
    a, b = (f.volunteer(ctx, units["station_a"], registered_on=dt.date(2020, 1, 1)) for _ in range(2))
    activity = f.activity(ctx, units["station_a"], dt.date(2025, 12, 31))
    f.served(ctx, recorder, approver, a, activity, dt.datetime(2025, 12, 31, 20), 120)  # 2025: 120
    wrong = f.served(ctx, recorder, approver, a, activity, dt.datetime(2026, 1, 2, 9), 45)
    with ctx.uow() as uow:  # reversed on 2026-03-01: 2026 gets 45 − 45
        service_records.reverse_record(uow.session, approver, wrong, "重复录入", dt.date(2026, 3, 1))
        uow.commit()
    with ctx.uow() as uow:  # moves home to station B: points move between funding units
        from ledger.transfers import moves as transfers
        transfers.transfer_volunteer(uow.session, approver, transfers.TransferVolunteer(
            a, units["station_b"], dt.date(2026, 3, 2)), today=ctx.today(), future_limit_days=30)
        uow.commit()
    with ctx.uow() as uow:  # a bulk batch for both volunteers: 2026 for A gets 60, B gets 30 + 30
        bulk.post_approved(uow.session, approver, [
            bulk.ApprovedService(a, f.activity_on(ctx, activity, dt.date(2026, 4, 1)),
                                 dt.datetime(2026, 4, 1, 9), dt.datetime(2026, 4, 1, 10), recorder.user_id),
            bulk.ApprovedService(b, f.activity_on(ctx, activity, dt.date(2025, 4, 1)),
                                 dt.datetime(2025, 4, 1, 9), dt.datetime(2025, 4, 1, 9, 30), recorder.user_id),
            bulk.ApprovedService(b, f.activity_on(ctx, activity, dt.date(2026, 4, 2)),
                                 dt.datetime(2026, 4, 2, 9), dt.datetime(2026, 4, 2, 9, 30), recorder.user_id),
        ], ctx.local_now())
        uow.commit()
    with ctx.uow() as uow:  # hours carried out to another deployment on 2026-05-01: A's 2026 gets −20
        s = uow.session
        post(s, kind="test_carry_out", key=f.ref("carry"), occurred_on=dt.date(2026, 5, 1), actor="test",
             legs=[Leg(account_id(s, "volunteer_minutes", a), MINUTES, -20, a, units["station_b"]),
                   Leg(account_id(s, "deployment_minutes", 1), MINUTES, 20, a, None)], volunteer_id=a)
        uow.commit()
    assert [_cached(ctx, a, 2025), _cached(ctx, a, 2026)] == [120, 45 - 45 + 60 - 20]
    assert [_cached(ctx, b, 2025), _cached(ctx, b, 2026)] == [30, 30]
    for volunteer in (a, b):
        for year in (2024, 2025, 2026):
            assert _cached(ctx, volunteer, year) == _summed(ctx, volunteer, year)
    with ctx.uow() as uow:
        assert verify(uow.session).ok
    with ctx.engine.begin() as conn:  # a cached row changed behind the ledger's back
        conn.execute(text("UPDATE volunteer_year_minutes SET minutes = minutes + 7 "
                          "WHERE volunteer_id = :v AND year = 2026"), {"v": b})
        conn.execute(text("DELETE FROM volunteer_year_minutes WHERE volunteer_id = :v AND year = 2025"), {"v": a})
    with ctx.uow() as uow:
        report = verify(uow.session)
    named = [(p["check"], p["table"], p["row"], p["year"]) for p in report.problems]
    assert named == [("year_minutes", "volunteer_year_minutes", a, 2025),
                     ("year_minutes", "volunteer_year_minutes", b, 2026)]
    assert "37 minutes cached for 2026 but the postings sum to 30" in report.problems[1]["detail"]


def test_the_migration_fills_the_table_from_the_postings_already_there(fresh_ctx):
    ctx = fresh_ctx
    units, recorder, approver = _activity_world(ctx)
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2020, 1, 1))
    activity = f.activity(ctx, units["station_a"], dt.date(2024, 6, 1))
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(2024, 6, 1, 9), 50)
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(2025, 6, 1, 9), 70)
    with ctx.engine.begin() as conn:  # back to a database from before revision 0010
        conn.execute(text("DROP TABLE volunteer_year_minutes"))
        # the heads as they were before 0010 (and before the merge revision 0012 joined them)
        conn.execute(text("DELETE FROM alembic_version"))
        for head in ("0003", "0004", "0005", "0006", "0007", "0011"):
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    # revision 0010 alone: the later revisions' tables are all there already
    upgrade(ctx.engine.url.render_as_string(hide_password=False), revision="0010")
    assert [_cached(ctx, volunteer, y) for y in (2024, 2025)] == [50, 70]
    with ctx.uow() as uow:
        assert verify(uow.session).ok
