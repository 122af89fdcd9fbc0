"""A volunteer's self-lookup (summary and history) read in one statement each: the same
figures as reading them one by one, the same scope rules, a new policy version seen at once,
and over HTTP the same token check as every other route."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ledger.book.accounts import balances_of
from ledger.book.tables import Transaction
from ledger.errors import NotFound
from ledger.incentives import policies
from ledger.incentives.pricing import current_star_level, default_policy_text, minutes_in_year, policy_in_force
from ledger.incentives.stars import minutes_to_next_star
from ledger.people.access import SYSTEM, Principal, require_volunteer
from ledger.people.volunteers import volunteer_public
from ledger.service import records as service_records
from ledger.store import usecase
from ledger.volunteer_view import lookup
from tests import factories as f

TODAY = dt.date(2026, 11, 23)


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def me(volunteer_id: int) -> Principal:
    return Principal(user_id=None, username=f"v{volunteer_id}", role="volunteer", volunteer_id=volunteer_id)


def summary_one_by_one(session, principal, volunteer_id: int, today: dt.date) -> dict:
    """The summary as it was read before: six statements, each figure on its own."""
    volunteer = require_volunteer(session, principal, volunteer_id)
    balances = balances_of(session, volunteer_id, lookup.VOLUNTEER_ACCOUNTS)
    total, this_year = balances["volunteer_minutes"], minutes_in_year(session, volunteer_id, today.year)
    _, policy = policy_in_force(session, volunteer.home_unit_id, today)
    return {"volunteer": volunteer_public(volunteer),
            "minutes_total": total, "hours_total": lookup.hours_text(total),
            "minutes_this_year": this_year, "hours_this_year": lookup.hours_text(this_year),
            "points": balances["volunteer_points"], "points_held": balances["volunteer_points_held"],
            "star_level": current_star_level(session, volunteer_id),
            "minutes_to_next_star": minutes_to_next_star(policy, total, this_year, volunteer.registered_on, today)}


@pytest.fixture
def world(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, approver_token = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2019, 3, 1))
    records = []
    for day, minutes in ((dt.date(2025, 12, 30), 120), (dt.date(2026, 3, 8), 90), (dt.date(2026, 3, 8), 45),
                         (dt.date(2026, 10, 2), 240)):
        activity_id = f.activity(ctx, units["station_a"], day, title=f"活动 {day} {minutes}")
        start = dt.datetime.combine(day, dt.time(8 if minutes != 45 else 14))
        records.append(f.served(ctx, recorder, approver, volunteer_id, activity_id, start, minutes))
    with ctx.uow() as uow:  # a reversal: negative amounts on the volunteer's own accounts
        service_records.reverse_record(uow.session, approver, records[1], "录入错误", TODAY)
        uow.commit()
    return {"units": units, "approver": approver, "approver_token": approver_token,
            "volunteer_id": volunteer_id, "records": records}


def test_the_summary_is_the_figures_read_one_by_one(ctx, world):
    volunteer_id = world["volunteer_id"]
    with ctx.uow() as uow:
        for principal in (me(volunteer_id), world["approver"], SYSTEM):
            got = lookup.volunteer_summary(uow.session, principal, volunteer_id, TODAY)
            assert got == summary_one_by_one(uow.session, principal, volunteer_id, TODAY)
        got = lookup.volunteer_summary(uow.session, SYSTEM, volunteer_id, TODAY)
    # 120 (2025) + 45 + 240 (2026); the 90 minutes were reversed
    assert (got["minutes_total"], got["minutes_this_year"]) == (405, 285) and got["points"] > 0
    assert got["volunteer"]["id"] == volunteer_id and got["volunteer"]["registered_on"] == "2019-03-01"


def test_a_volunteer_never_served_reads_zeros(ctx, world):
    newcomer = f.volunteer(ctx, world["units"]["station_b"])
    with ctx.uow() as uow:
        got = lookup.volunteer_summary(uow.session, me(newcomer), newcomer, TODAY)
        assert got == summary_one_by_one(uow.session, me(newcomer), newcomer, TODAY)
        assert (got["minutes_total"], got["points"], got["star_level"]) == (0, 0, 0)
        assert lookup.volunteer_history(uow.session, me(newcomer), newcomer) == {"items": [], "next_before_id": None}


def test_summary_and_history_refuse_who_may_not_see_as_not_found(ctx, world):
    volunteer_id, units = world["volunteer_id"], world["units"]
    other_station_admin, _ = f.user(ctx, "unit_admin", units["station_b"])
    center_admin, _ = f.user(ctx, "unit_admin", units["center"])
    with ctx.uow() as uow:
        s = uow.session
        for principal, target in ((me(volunteer_id + 1), volunteer_id), (other_station_admin, volunteer_id),
                                  (SYSTEM, 987654321), (me(987654321), 987654321)):
            with pytest.raises(NotFound) as refused:
                lookup.volunteer_summary(s, principal, target, TODAY)
            assert refused.value.field == "volunteer_id"
            with pytest.raises(NotFound) as refused:
                lookup.volunteer_history(s, principal, target)
            assert refused.value.field == "volunteer_id"
        assert lookup.volunteer_summary(s, center_admin, volunteer_id, TODAY)["minutes_total"] == 405
        assert len(lookup.volunteer_history(s, center_admin, volunteer_id)["items"]) == 5


def test_a_new_policy_version_is_seen_by_the_next_summary(ctx, world):
    volunteer_id, units = world["volunteer_id"], world["units"]
    center_admin, _ = f.user(ctx, "unit_admin", units["center"])
    with ctx.uow() as uow:
        before = lookup.volunteer_summary(uow.session, me(volunteer_id), volunteer_id, TODAY)
    assert before["minutes_to_next_star"] == 100 * 60 - 405  # 一星 at 100 hours (default policy)
    lower = default_policy_text().replace("hours = 100\n", "hours = 50\n", 1)
    assert lower != default_policy_text()
    with ctx.uow() as uow:
        policies.publish_policy(uow.session, center_admin, policies.PublishPolicy(
            units["station_a"], dt.date(2026, 1, 1), lower))
        uow.commit()
    with ctx.uow() as uow:
        after = lookup.volunteer_summary(uow.session, me(volunteer_id), volunteer_id, TODAY)
        assert after == summary_one_by_one(uow.session, me(volunteer_id), volunteer_id, TODAY)
    assert after["minutes_to_next_star"] == 50 * 60 - 405


def test_history_shows_each_transaction_with_its_own_amounts_and_title(ctx, world):
    volunteer_id = world["volunteer_id"]
    with ctx.uow() as uow:
        s = uow.session
        page = lookup.volunteer_history(s, me(volunteer_id), volunteer_id, limit=50)
        txs = s.execute(select(Transaction).where(Transaction.volunteer_id == volunteer_id)).scalars().all()
        amounts = lookup._own_amounts(s, volunteer_id, [tx.id for tx in txs])
        titles = lookup._activity_titles(s, [tx.service_record_id for tx in txs if tx.service_record_id])
        by_date = sorted(txs, key=lambda tx: (tx.occurred_on, tx.id), reverse=True)
        assert [item["transaction_id"] for item in page["items"]] == [tx.id for tx in by_date]
        assert page["next_before_id"] is None
        for item, tx in zip(page["items"], by_date):
            assert item == {
                "transaction_id": tx.id, "kind": tx.kind, "occurred_on": tx.occurred_on.isoformat(),
                "recorded_at": tx.recorded_at.isoformat(), "memo": tx.memo,
                "service_record_id": tx.service_record_id, "activity": titles.get(tx.service_record_id),
                "unit_id": tx.unit_id, "reverses_id": tx.reverses_id, "policy_version_id": tx.policy_version_id,
                **amounts[tx.id]}
    reversal = next(item for item in page["items"] if item["reverses_id"])
    reversed_one = next(item for item in page["items"] if item["transaction_id"] == reversal["reverses_id"])
    assert (reversal["minutes"], reversal["points"]) == (-90, -reversed_one["points"]) and reversal["points"] < 0
    assert sum(item["minutes"] for item in page["items"]) == 405


def test_history_pages_follow_one_another_without_gaps_or_repeats(ctx, world):
    volunteer_id = world["volunteer_id"]
    with ctx.uow() as uow:
        whole = lookup.volunteer_history(uow.session, me(volunteer_id), volunteer_id, limit=200)["items"]
        seen, before_id = [], None
        while True:
            page = lookup.volunteer_history(uow.session, me(volunteer_id), volunteer_id, limit=2,
                                            before_id=before_id)
            assert 1 <= len(page["items"]) <= 2
            seen += page["items"]
            before_id = page["next_before_id"]
            if before_id is None:
                break
    assert seen == whole and len(whole) == 5


def test_balances_and_history_over_http_check_the_token_in_the_same_read(client, ctx, world):
    volunteer_id = world["volunteer_id"]
    _, token = f.user(ctx, "volunteer", volunteer_id=volunteer_id)
    _, other_token = f.user(ctx, "volunteer", volunteer_id=f.volunteer(ctx, world["units"]["station_a"]))
    balances = client.get(f"/volunteers/{volunteer_id}/balances", headers=h(token))
    assert balances.status_code == 200 and balances.json()["minutes_total"] == 405
    history = client.get(f"/volunteers/{volunteer_id}/history?limit=3", headers=h(token))
    assert history.status_code == 200 and len(history.json()["items"]) == 3
    assert history.json()["next_before_id"] == history.json()["items"][-1]["transaction_id"]
    for path in ("balances", "history"):
        url = f"/volunteers/{volunteer_id}/{path}"
        assert client.get(url, headers=h(other_token)).status_code == 404
        for headers in ({}, h("lt_not-a-token"), {"Authorization": "Basic eDp5"}):
            refused = client.get(url, headers=headers)
            assert refused.status_code == 401 and refused.json()["field"] == "Authorization"
        assert client.get(url, headers=h(world["approver_token"])).status_code == 200
    client.post("/selfservice/sign-out", headers=h(token))
    assert client.get(f"/volunteers/{volunteer_id}/balances", headers=h(token)).status_code == 401


def test_the_lookups_count_as_token_routes_for_the_rate_limit(client):
    from api.middleware import public_routes

    public = [regex.pattern for regex, _methods, _group in public_routes(client.app)]
    assert not [p for p in public if "volunteer_id" in p and ("balances" in p or "/history" in p)]
    assert not [p for p in public if p.startswith("^/volunteers/")]


def test_read_lookup_returns_the_answer_and_lets_errors_through(ctx, world):
    volunteer_id = world["volunteer_id"]
    got = usecase.read_autocommit(ctx, lambda s: lookup.volunteer_summary(s, me(volunteer_id), volunteer_id, TODAY))
    assert got["minutes_total"] == 405
    with pytest.raises(NotFound):
        usecase.read_autocommit(ctx, lambda s: lookup.volunteer_summary(s, me(volunteer_id), 987654321, TODAY))


def test_a_connection_used_by_a_lookup_goes_back_to_the_pool_transactional(ctx, world):
    """read_autocommit runs PostgreSQL reads in autocommit: the next unit of work on the same
    connection must be a transaction again (its writes undone by a rollback)."""
    from dataclasses import replace

    from ledger.store.db import make_engine
    from ledger.store.tables import AuditEntry

    engine = make_engine(ctx.engine.url.render_as_string(hide_password=False), pool_size=1)
    one = replace(ctx, engine=engine)
    try:
        volunteer_id = world["volunteer_id"]
        usecase.read_autocommit(one, lambda s: lookup.volunteer_summary(s, me(volunteer_id), volunteer_id, TODAY))
        marker = f.ref("lookup-pool")
        with one.uow() as uow:
            uow.session.add(AuditEntry(actor="test", action="test.pool", target=marker, detail={}))
            uow.session.flush()
            if not one.is_sqlite:
                assert uow.session.connection().connection.driver_connection.autocommit is False
        with one.uow() as uow:  # the first one was rolled back
            assert uow.session.execute(select(AuditEntry).where(AuditEntry.target == marker)).first() is None
    finally:
        engine.dispose()
