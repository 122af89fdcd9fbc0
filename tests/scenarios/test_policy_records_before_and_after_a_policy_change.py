"""Worked story: a county publishes a policy, then a new version from 1 July, and one station
publishes its own local variant; each record is priced by the version in force on its
service date at the nearest unit up the tree, and its transaction keeps that version.

County v1 from 2026-01-01: 10 pts/h; county v2 from 2026-07-01: 20 pts/h; 南岭村站 (station
b) v1 from 2026-01-01: 15 pts/h.  All without multipliers.  Two hours each:
* 东风村站, 2026-06-30 → county v1: 2 × 10 = 20 pts;
* 东风村站, 2026-07-01 → county v2: 2 × 20 = 40 pts;
* 南岭村站, 2026-07-01 → its own v1: 2 × 15 = 30 pts (nearest unit wins over the county's v2).
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from ledger.book.accounts import balance
from ledger.book.tables import Transaction
from ledger.incentives.tables import PolicyVersion
from tests import factories as f


def simple_policy(name: str, per_hour: int) -> str:
    return f"""
[policy]
name = "{name}"

[points]
per_hour = {per_hour}

[stars]
[[stars.levels]]
hours = 100
"""


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


def publish(client, token, unit_id, effective_from, document):
    return client.post("/policies", headers=h(token), json={
        "unit_id": unit_id, "effective_from": effective_from, "document": document})


def test_records_are_priced_by_the_version_in_force_on_their_date(client, ctx):
    units = f.tree(ctx)
    _, center_admin = f.user(ctx, "unit_admin", units["center"])  # 中心管理员
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    v1 = publish(client, center_admin, units["center"], "2026-01-01", simple_policy("县办法", 10))
    v2 = publish(client, center_admin, units["center"], "2026-07-01", simple_policy("县办法（修订）", 20))
    local = publish(client, center_admin, units["station_b"], "2026-01-01", simple_policy("南岭村细则", 15))
    assert [r.status_code for r in (v1, v2, local)] == [201, 201, 201], local.text
    assert (v1.json()["version"], v2.json()["version"], local.json()["version"]) == (1, 2, 1)

    volunteer_a = f.volunteer(ctx, units["station_a"])
    volunteer_b = f.volunteer(ctx, units["station_b"])
    june = f.activity(ctx, units["station_a"], dt.date(2026, 6, 30))
    july = f.activity(ctx, units["station_a"], dt.date(2026, 7, 1))
    july_b = f.activity(ctx, units["station_b"], dt.date(2026, 7, 1))
    before = f.served(ctx, recorder, approver, volunteer_a, june, dt.datetime(2026, 6, 30, 9), 120)
    after = f.served(ctx, recorder, approver, volunteer_a, july, dt.datetime(2026, 7, 1, 9), 120)
    local_record = f.served(ctx, recorder, approver, volunteer_b, july_b, dt.datetime(2026, 7, 1, 9), 120)
    with ctx.uow() as uow:
        s = uow.session
        version_of = {record: tx.policy_version_id for record, tx in (
            (r, s.execute(select(Transaction).where(Transaction.service_record_id == r)).scalar_one())
            for r in (before, after, local_record))}
        assert version_of == {before: v1.json()["id"], after: v2.json()["id"], local_record: local.json()["id"]}
        assert balance(s, "volunteer_points", volunteer_a) == 20 + 40
        assert balance(s, "volunteer_points", volunteer_b) == 30

    in_force = client.get("/policies/in-force", params={"unit_id": units["station_a"], "on": "2026-06-30"},
                          headers=h(center_admin)).json()
    assert in_force["version"]["id"] == v1.json()["id"] and in_force["policy"]["points"]["per_hour"] == "10"
    in_force = client.get("/policies/in-force", params={"unit_id": units["station_b"], "on": "2026-07-01"},
                          headers=h(center_admin)).json()
    assert in_force["version"]["id"] == local.json()["id"]
    before_any = client.get("/policies/in-force", params={"unit_id": units["station_a"], "on": "2025-12-31"},
                            headers=h(center_admin)).json()
    assert before_any["is_default"] is True and before_any["version"] is None
    listed = client.get("/policies", params={"unit_id": units["station_b"]}, headers=h(center_admin)).json()
    assert [(v["unit_id"], v["version"]) for v in listed] == [
        (units["center"], 1), (units["center"], 2), (units["station_b"], 1)]

    # publishing never rewrites history: a retroactive v3 changes nothing posted
    v3 = publish(client, center_admin, units["center"], "2026-07-01", simple_policy("县办法（再修订）", 25))
    assert v3.status_code == 201
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_a) == 60
        stored = uow.session.get(PolicyVersion, v1.json()["id"])
        assert stored.document == simple_policy("县办法", 10)
