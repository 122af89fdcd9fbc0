"""A volunteer with posted service, a station admin who issues sign-in codes, and a
second volunteer; shared by the self-service API, certificate and browser tests.

Worked figures (default policy: 10 points an hour, no date tag on these days):
  last year 03-12  150 min  → 2.5 h, 25 points
  last year 07-15  120 min  → 2 h,   20 points
  total            270 min  → 4.5 h, 45 points, expiring at the end of this year
"""
from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.people.tables import Volunteer
from tests import factories as f


@dataclass
class Story:
    units: dict
    station_admin: str
    other_station_admin: str
    approver: object
    recorder: object
    volunteer_id: int
    number: str
    other_volunteer_id: int
    other_number: str
    record_ids: list
    last_year: int


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def new_key() -> str:
    return str(uuid.uuid4())


def story(ctx) -> Story:
    """Build the worked example on the shared database."""
    units = f.tree(ctx)
    recorder, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    _, other_station_admin = f.user(ctx, "unit_admin", units["station_b"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    volunteer_id = f.volunteer(ctx, units["station_a"], name="张三丰")
    other_id = f.volunteer(ctx, units["station_a"], name="李四")
    year = ctx.today().year - 1
    records = []
    for day, minutes, title in ((dt.date(year, 3, 12), 150, "广场舞教学"), (dt.date(year, 7, 15), 120, "垃圾分类宣传")):
        activity_id = f.activity(ctx, units["station_a"], day, title=title,
                                 category="卫生环保" if "垃圾" in title else "文化文艺")
        records.append(f.served(ctx, recorder, approver, volunteer_id, activity_id,
                                dt.datetime.combine(day, dt.time(9)), minutes))
    other_activity = f.activity(ctx, units["station_a"], dt.date(year, 4, 8), title="关爱老人")
    f.served(ctx, recorder, approver, other_id, other_activity, dt.datetime(year, 4, 8, 9), 60)
    with ctx.uow() as uow:
        number = uow.session.get(Volunteer, volunteer_id).number
        other_number = uow.session.get(Volunteer, other_id).number
    return Story(units, station_admin, other_station_admin, approver, recorder, volunteer_id, number, other_id,
                 other_number, records, year)


def client_at(ctx, address: str | None = None) -> TestClient:
    """A test client calling from its own (random) address, so address limits never collide."""
    address = address or f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    return TestClient(create_app(ctx), client=(address, 50000))


def issue_code(client: TestClient, admin_token: str, volunteer_id: int, kind: str = "code") -> str:
    response = client.post(f"/selfservice/volunteers/{volunteer_id}/sign-in-codes", json={"kind": kind},
                           headers=h(admin_token))
    assert response.status_code == 201, response.text
    return response.json()["code"]


def sign_in(client: TestClient, admin_token: str, volunteer_id: int, number: str) -> str:
    code = issue_code(client, admin_token, volunteer_id)
    response = client.post("/selfservice/sign-in", json={"number": number, "code": code})
    assert response.status_code == 200, response.text
    return response.json()["token"]
