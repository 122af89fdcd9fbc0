"""An upheld complaint (投诉) acts on points as the policy says — zero the activity's points, or
deduct a number of points — and never on the hours served; over HTTP, on both engines."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from ledger.book.accounts import balance
from tests import factories as f


def policy(complaints: str) -> str:
    return f"""
[policy]
name = "投诉办法"

[points]
per_hour = 10

[complaints]
{complaints}

[stars]
[[stars.levels]]
hours = 100
"""


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


@pytest.mark.parametrize("complaints, points_after, taken", [
    # two records in one activity (120 + 60 min = 20 + 10 pts) and one elsewhere (90 min = 15 pts):
    # "zero_activity_points" takes both records of the activity: 20 + 10 = 30; 15 stay
    ('upheld = "zero_activity_points"', 15, -30),
    # "deduct" 8: 45 - 8 = 37
    ('upheld = "deduct"\ndeduct_points = 8', 37, -8),
    # "zero_points" (the record only): 45 - 20 = 25
    ('upheld = "zero_points"', 25, -20),
])
def test_an_upheld_complaint_takes_points_never_hours(client, ctx, complaints, points_after, taken):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    published = client.post("/policies", headers=h(admin), json={
        "unit_id": units["center"], "effective_from": "2026-01-01", "document": policy(complaints)})
    assert published.status_code == 201, published.text
    volunteer_id = f.volunteer(ctx, units["station_a"])
    fair = f.activity(ctx, units["station_a"], dt.date(2026, 11, 10))
    other = f.activity(ctx, units["station_a"], dt.date(2026, 11, 11))
    complained = f.served(ctx, recorder, approver, volunteer_id, fair, dt.datetime(2026, 11, 10, 9), 120)
    f.served(ctx, recorder, approver, volunteer_id, fair, dt.datetime(2026, 11, 10, 14), 60)
    f.served(ctx, recorder, approver, volunteer_id, other, dt.datetime(2026, 11, 11, 9), 90)
    upheld = client.post(f"/service-records/{complained}/rating", headers=h(institute_admin),
                         json={"complaint_upheld": True})
    assert upheld.status_code == 200, upheld.text
    assert upheld.json()["complaint"]["points"] == taken and upheld.json()["complaint"]["minutes"] == 0
    with ctx.uow() as uow:
        assert balance(uow.session, "volunteer_points", volunteer_id) == points_after
        assert balance(uow.session, "volunteer_minutes", volunteer_id) == 120 + 60 + 90


def test_deduct_needs_its_number_and_only_with_deduct():
    from ledger.errors import PolicyInvalid
    from ledger.incentives.policy import Policy
    with pytest.raises(PolicyInvalid) as missing:
        Policy.parse(policy('upheld = "deduct"'))
    assert missing.value.field == "complaints.deduct_points"
    with pytest.raises(PolicyInvalid) as stray:
        Policy.parse(policy('upheld = "zero_points"\ndeduct_points = 5'))
    assert stray.value.field == "complaints.deduct_points"
    text = Policy.parse(policy('upheld = "deduct"\ndeduct_points = 5'))
    from ledger.incentives.describe import policy_text
    assert "投诉经核实成立的，扣减 5 积分，服务时长照计。" in policy_text(text)
