"""Issue 2's bad-input list over HTTP, each refused with the field and the reason while the
ledger stays exactly as it was (position, balances, records of the volunteer)."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from ledger.book.accounts import balances_of
from ledger.book.postings import ledger_position
from ledger.service.tables import ServiceRecord
from ledger.store.usecase import read
from tests import factories as f


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def ledger_state(ctx, volunteer_id: int) -> tuple:
    def run(s):
        records = s.execute(select(ServiceRecord.id, ServiceRecord.status)
                            .where(ServiceRecord.volunteer_id == volunteer_id).order_by(ServiceRecord.id)).all()
        return (ledger_position(s), balances_of(s, volunteer_id, ["volunteer_minutes", "volunteer_points"]),
                [tuple(r) for r in records])
    return read(ctx, run)


def test_each_bad_request_names_its_field_and_leaves_the_ledger_unchanged(client, ctx):
    units = f.tree(ctx)
    _, recorder = f.user(ctx, "unit_admin", units["station_a"])
    _, approver = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 16))
    base = {"volunteer_id": volunteer_id, "activity_id": activity_id,
            "started_at": "2026-11-16T09:00:00", "ended_at": "2026-11-16T11:00:00"}
    # one posted record (120 min, 20 points), then a reversed one
    posted = client.post("/service-records", json=base, headers=h(recorder, str(uuid.uuid4()))).json()
    client.post(f"/service-records/{posted['id']}/approve", headers=h(approver, str(uuid.uuid4())))
    later = {**base, "activity_id": f.activity_on(ctx, activity_id, dt.date(2026, 11, 17)),
             "started_at": "2026-11-17T09:00:00", "ended_at": "2026-11-17T10:00:00"}
    second = client.post("/service-records", json=later, headers=h(recorder, str(uuid.uuid4()))).json()
    client.post(f"/service-records/{second['id']}/approve", headers=h(approver, str(uuid.uuid4())))
    reversed_ = client.post(f"/service-records/{second['id']}/reverse", json={"reason": "录入错误"},
                            headers=h(approver, str(uuid.uuid4())))
    assert reversed_.json()["status"] == "reversed"
    pending = client.post("/service-records", json={**base, "started_at": "2026-11-18T09:00:00",
                                                    "activity_id": f.activity_on(ctx, activity_id, dt.date(2026, 11, 18)),
                                                    "ended_at": "2026-11-18T10:00:00"},
                          headers=h(recorder, str(uuid.uuid4()))).json()
    used_key = str(uuid.uuid4())
    assert client.post("/service-records", json={**base, "started_at": "2026-11-19T09:00:00",
                                                 "activity_id": f.activity_on(ctx, activity_id, dt.date(2026, 11, 19)),
                                                 "ended_at": "2026-11-19T10:00:00"},
                       headers=h(recorder, used_key)).status_code == 201
    before = ledger_state(ctx, volunteer_id)
    assert before[1] == {"volunteer_minutes": 120, "volunteer_points": 20}

    cases = [
        ("overlapping record", "POST", "/service-records",
         {**base, "started_at": "2026-11-16T10:30:00", "ended_at": "2026-11-16T12:00:00"}, None, 409, "started_at"),
        ("end before start", "POST", "/service-records", {**base, "ended_at": "2026-11-16T08:00:00"}, None, 422,
         "ended_at"),
        ("longer than a day", "POST", "/service-records",
         {**base, "started_at": "2026-11-01T08:00:00", "ended_at": "2026-11-02T08:01:00"}, None, 422, "ended_at"),
        ("dated in the future", "POST", "/service-records",
         {**base, "started_at": "2027-01-04T09:00:00", "ended_at": "2027-01-04T10:00:00"}, None, 422, "ended_at"),
        ("unknown volunteer", "POST", "/service-records", {**base, "volunteer_id": 2_000_000_000}, None, 404,
         "volunteer_id"),
        ("unknown activity", "POST", "/service-records", {**base, "activity_id": 2_000_000_000}, None, 404,
         "activity_id"),
        ("same key, different body", "POST", "/service-records",
         {**base, "started_at": "2026-11-20T09:00:00", "ended_at": "2026-11-20T10:00:00"}, used_key, 409,
         "Idempotency-Key"),
        ("reversal of a reversed record", "POST", f"/service-records/{second['id']}/reverse",
         {"reason": "再次冲正"}, None, 409, "record_id"),
        ("reversal of a pending record", "POST", f"/service-records/{pending['id']}/reverse",
         {"reason": "冲正"}, None, 409, "status"),
        ("approval of a posted record", "POST", f"/service-records/{posted['id']}/approve", None, None, 409,
         "status"),
        ("reversal without a reason", "POST", f"/service-records/{posted['id']}/reverse", {"reason": ""}, None,
         422, "reason"),
    ]
    for name, method, path, body, key, status, field in cases:
        token = recorder if path == "/service-records" else approver
        response = client.request(method, path, json=body, headers=h(token, key or str(uuid.uuid4())))
        answer = response.json()
        assert (response.status_code, answer.get("field")) == (status, field), (name, response.text)
        assert answer.get("message"), name  # a reason a person can act on
        assert ledger_state(ctx, volunteer_id) == before, name


def test_a_body_that_is_not_json_names_the_body_not_a_character_offset(client, ctx):
    units = f.tree(ctx)
    _, recorder = f.user(ctx, "unit_admin", units["station_a"])
    answer = client.post("/activities", content=b'{"unit_id": 4,', headers={
        **h(recorder, f"bad-json-{uuid.uuid4()}"), "Content-Type": "application/json"})
    assert answer.status_code == 422
    body = answer.json()
    assert (body["code"], body["field"]) == ("invalid", "body") and "JSON" in body["message"]
