"""The first API over HTTP: record → approve → balances, with scoping, idempotency and
clear errors that name the field."""
from __future__ import annotations

import datetime as dt
import uuid

from tests import factories as f


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def key() -> str:
    return str(uuid.uuid4())


def _setup(ctx):
    units = f.tree(ctx)
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    _, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    _, other_station_admin = f.user(ctx, "unit_admin", units["station_b"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    activity_id = f.activity(ctx, units["station_a"], dt.date(2026, 11, 16))
    return units, station_admin, institute_admin, other_station_admin, volunteer_id, activity_id


def test_record_approve_and_read_balances_over_http(client, ctx):
    units, station_admin, institute_admin, _, volunteer_id, activity_id = _setup(ctx)
    body = {"volunteer_id": volunteer_id, "activity_id": activity_id,
            "started_at": "2026-11-16T09:00:00", "ended_at": "2026-11-16T12:00:00", "minutes": 150,
            "confirmed_by": "李大姐"}
    k = key()
    created = client.post("/service-records", json=body, headers=h(station_admin, k))
    assert created.status_code == 201, created.text
    again = client.post("/service-records", json=body, headers=h(station_admin, k))
    assert again.json() == created.json() and again.headers.get("Idempotent-Replayed") == "true"
    record_id = created.json()["id"]
    own = client.post(f"/service-records/{record_id}/approve", headers=h(station_admin, key()))
    assert own.status_code == 403 and own.json()["field"] == "approved_by"
    approved = client.post(f"/service-records/{record_id}/approve", headers=h(institute_admin, key()))
    assert approved.status_code == 200 and approved.json()["status"] == "posted"
    balances = client.get(f"/volunteers/{volunteer_id}/balances", headers=h(institute_admin)).json()
    # 150 min = 2.5 h × 10 points = 25 points
    assert (balances["minutes_total"], balances["hours_total"], balances["points"]) == (150, "2.5", 25)
    history = client.get(f"/volunteers/{volunteer_id}/history", headers=h(institute_admin)).json()
    assert history["items"][0]["minutes"] == 150 and history["items"][0]["points"] == 25


def test_same_key_with_a_different_body_is_refused(client, ctx):
    _, station_admin, _, _, volunteer_id, activity_id = _setup(ctx)
    k = key()
    body = {"volunteer_id": volunteer_id, "activity_id": activity_id,
            "started_at": "2026-11-16T09:00:00", "ended_at": "2026-11-16T10:00:00"}
    assert client.post("/service-records", json=body, headers=h(station_admin, k)).status_code == 201
    body["ended_at"] = "2026-11-16T11:00:00"
    second = client.post("/service-records", json=body, headers=h(station_admin, k))
    assert second.status_code == 409 and second.json()["field"] == "Idempotency-Key"


def test_bad_records_name_the_field_and_change_nothing(client, ctx):
    _, station_admin, _, _, volunteer_id, activity_id = _setup(ctx)
    base = {"volunteer_id": volunteer_id, "activity_id": activity_id,
            "started_at": "2026-11-16T09:00:00", "ended_at": "2026-11-16T10:00:00"}
    cases = [
        ({"ended_at": "2026-11-16T08:00:00"}, 422, "ended_at"),
        ({"ended_at": "2026-11-17T10:00:00"}, 422, "ended_at"),  # longer than a day
        ({"started_at": "2099-01-01T09:00:00", "ended_at": "2099-01-01T10:00:00"}, 422, "ended_at"),
        ({"volunteer_id": 987654321}, 404, "volunteer_id"),
        ({"activity_id": 987654321}, 404, "activity_id"),
        ({"minutes": 0}, 422, "minutes"),
        ({"minutes": 90}, 422, "minutes"),  # more than the 60 minutes between start and end
        ({"started_at": "not a time"}, 422, "started_at"),
    ]
    for change, status, field in cases:
        response = client.post("/service-records", json={**base, **change}, headers=h(station_admin, key()))
        assert (response.status_code, response.json()["field"]) == (status, field), (change, response.text)
    listed = client.get(f"/service-records?volunteer_id={volunteer_id}", headers=h(station_admin)).json()
    assert listed == []


def test_a_unit_admin_cannot_read_or_write_outside_their_subtree(client, ctx):
    units, station_admin, _, other_admin, volunteer_id, activity_id = _setup(ctx)
    assert client.get(f"/volunteers/{volunteer_id}", headers=h(other_admin)).status_code == 404
    assert client.get(f"/volunteers/{volunteer_id}/balances", headers=h(other_admin)).status_code == 404
    assert client.get(f"/units/{units['station_a']}", headers=h(other_admin)).status_code == 404
    body = {"volunteer_id": volunteer_id, "activity_id": activity_id,
            "started_at": "2026-11-16T09:00:00", "ended_at": "2026-11-16T10:00:00"}
    refused = client.post("/service-records", json=body, headers=h(other_admin, key()))
    assert refused.status_code == 404 and refused.json()["field"] == "activity_id"
    listed = client.get("/units", headers=h(other_admin)).json()
    assert [u["id"] for u in listed] == [units["station_b"]]


def test_a_volunteer_sees_only_their_own_data(client, ctx):
    units = f.tree(ctx)
    me = f.volunteer(ctx, units["station_a"])
    other = f.volunteer(ctx, units["station_a"])
    _, token = f.user(ctx, "volunteer", volunteer_id=me)
    assert client.get(f"/volunteers/{me}/balances", headers=h(token)).status_code == 200
    assert client.get(f"/volunteers/{other}/balances", headers=h(token)).status_code == 404
    assert client.get(f"/volunteers/{other}/history", headers=h(token)).status_code == 404
    assert client.get("/volunteers", headers=h(token)).status_code == 403


def test_requests_without_a_valid_token_are_refused(client):
    assert client.get("/units").status_code == 401
    response = client.get("/units", headers=h("lt_not-a-token"))
    assert response.status_code == 401 and response.json()["field"] == "Authorization"


def test_history_is_newest_service_date_first_and_pages_in_that_order(client, ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, token = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"])
    # entered in this order, served on these dates: the page shows 09-30, 05-10, 02-11
    for day in (dt.date(2026, 5, 10), dt.date(2026, 2, 11), dt.date(2026, 9, 30)):
        activity_id = f.activity(ctx, units["station_a"], day)
        f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime.combine(day, dt.time(9)), 60)
    first = client.get(f"/volunteers/{volunteer_id}/history?limit=2", headers=h(token)).json()
    assert [item["occurred_on"] for item in first["items"]] == ["2026-09-30", "2026-05-10"]
    rest = client.get(f"/volunteers/{volunteer_id}/history?limit=2&before_id={first['next_before_id']}",
                      headers=h(token)).json()
    assert [item["occurred_on"] for item in rest["items"]] == ["2026-02-11"] and rest["next_before_id"] is None
