"""Worked story: a 3.5-hour 应急 service on the monthly 志愿服务日, rated 5 afterwards, under a
local policy whose multipliers stack and whose daily cap cuts the credited time.

Figures by hand (policy below: 10 points an hour, rounding half_up, stack = multiply,
应急 ×1.5, 志愿服务日 (the 5th of each month) ×1.2, rating 5 ×1.2, at most 240 minutes a day):

* 2026-10-05 08:00–09:00, 文化文艺, no tag: 60 min, date tag 志愿服务日 → 1 h × 10 × 1.2 = 12 pts.
* 2026-10-05 13:00–16:30, 应急: 210 min, but 240 − 60 = 180 min remain today → 180 min credited;
  posted without a rating: 3 h × 10 × 1.5 × 1.2 = 54 pts.
* 评单 rating 5 later: 3 h × 10 × 1.5 × 1.2 × 1.2 = 64.8 → 65 pts, so the bonus is 65 − 54 = 11 pts,
  its own transaction `rating:{record}`.
* The volunteer ends with 60 + 180 = 240 minutes and 12 + 54 + 11 = 77 points.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from ledger.book.accounts import balance
from ledger.book.tables import Transaction
from ledger.service.tables import ServiceRecord
from tests import factories as f

LOCAL_POLICY = """
[policy]
name = "应急志愿服务嘉许办法（试行）"

[points]
per_hour = 10
rounding = "half_up"

[multipliers]
stack = "multiply"

[multipliers.tag]
"应急" = 1.5
"志愿服务日" = 1.2

[multipliers.rating]
5 = 1.2

[service]
categories = ["文化文艺", "应急救援"]

[caps]
per_day_minutes = 240

[stars]
[[stars.levels]]
hours = 100

[[date_tags]]
name = "志愿服务日"
monthly_day = 5
"""


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


def test_emergency_service_on_service_day_rated_five_with_a_daily_cap(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    recorder, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    approver, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    published = client.post("/policies", headers=h(admin), json={
        "unit_id": units["center"], "effective_from": "2026-01-01", "document": LOCAL_POLICY})
    assert published.status_code == 201, published.text
    version_id = published.json()["id"]
    volunteer_id = f.volunteer(ctx, units["station_a"])
    morning = f.activity(ctx, units["station_a"], dt.date(2026, 10, 5), category="文化文艺")
    flood = f.activity(ctx, units["station_a"], dt.date(2026, 10, 5), category="应急救援", tags=("应急",),
                       title="防汛应急转移")
    f.served(ctx, recorder, approver, volunteer_id, morning, dt.datetime(2026, 10, 5, 8, 0), 60)

    created = client.post("/service-records", headers=h(station_admin), json={
        "volunteer_id": volunteer_id, "activity_id": flood, "started_at": "2026-10-05T13:00:00",
        "ended_at": "2026-10-05T16:30:00", "confirmed_by": "应急办王主任"})
    assert created.status_code == 201 and created.json()["minutes"] == 210
    record_id = created.json()["id"]
    assert client.post(f"/service-records/{record_id}/approve", headers=h(institute_admin)).status_code == 200
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_minutes", volunteer_id) == 60 + 180
        assert balance(uow.session, "volunteer_points", volunteer_id) == 12 + 54

    rated = client.post(f"/service-records/{record_id}/rating", headers=h(institute_admin), json={"rating": 5})
    assert rated.status_code == 200, rated.text
    assert rated.json()["rating"]["points"] == 11 and rated.json()["record"]["rating"] == 5
    again = client.post(f"/service-records/{record_id}/rating", headers=h(institute_admin), json={"rating": 4})
    assert again.status_code == 409 and again.json()["field"] == "rating"
    with ctx.uow() as uow:
        s = uow.session
        assert balance(s, "volunteer_minutes", volunteer_id) == 240
        assert balance(s, "volunteer_points", volunteer_id) == 77
        txs = s.execute(select(Transaction).where(Transaction.service_record_id == record_id)
                        .order_by(Transaction.id)).scalars().all()
        assert [(tx.kind, tx.idempotency_key) for tx in txs] == [
            ("service", f"service:{record_id}"), ("rating", f"rating:{record_id}")]
        assert {tx.policy_version_id for tx in txs} == {version_id}  # every points tx names its version
        assert s.get(ServiceRecord, record_id).rating == 5


def test_an_upheld_complaint_zeroes_the_points_by_an_explicit_transaction(client, ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 10))
    # default policy: 2026-11-10 has no date tag; 90 min = 1.5 h × 10 = 15 pts
    record_id = f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 11, 10, 9), 90)
    rated = client.post(f"/service-records/{record_id}/rating", headers=h(institute_admin),
                        json={"rating": 1, "complaint_upheld": True})
    assert rated.status_code == 200, rated.text
    # rating 1 ×0.8: 12 pts, a malus of −3; the upheld complaint then takes the remaining 12 (zero_points)
    assert rated.json()["rating"]["points"] == -3 and rated.json()["complaint"]["points"] == -12
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_id) == 0
        assert balance(uow.session, "volunteer_minutes", volunteer_id) == 90  # hours stay (zero_points)
        kinds = uow.session.execute(select(Transaction.kind).where(
            Transaction.service_record_id == record_id).order_by(Transaction.id)).scalars().all()
        assert kinds == ["service", "rating", "complaint"]
