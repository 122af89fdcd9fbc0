"""The world the authorisation matrix and the fuzzer act in: one county, every role, objects.

Everything is built as an admin through the HTTP API itself (so the matrix needs no
knowledge of the domain functions), plus users and tokens from tests/factories.py.
In scope means: belongs to station A (東风村站) and to volunteer V.  The roles:

  admin      the center admin (sees everything)
  ua_in      unit admin of station A (the objects' own unit)
  ua_out     unit admin of station B (a sibling station: out of scope)
  desk       desk operator of station A's desk
  auditor    reads everything, writes nothing
  vol_own    the volunteer V themself
  vol_other  another volunteer W of station A
  anon       no token
"""
from __future__ import annotations

import base64
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.incentives.pricing import default_policy_text
from tests import factories as f

ROLES = ("admin", "ua_in", "ua_out", "desk", "auditor", "vol_own", "vol_other", "anon")
SERVICE_DAY = dt.date(2025, 6, 10)


def key() -> str:
    return str(uuid.uuid4())


@dataclass
class World:
    client: object
    ctx: object
    ids: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    slot: int = 0

    # --- plumbing -------------------------------------------------------------------------

    def headers(self, role: str | None, write: bool = False) -> dict:
        headers = {"Idempotency-Key": key()} if write else {}
        if role and role != "anon":
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return headers

    def admin(self, method: str, path: str, expect: int | tuple = (200, 201), role: str = "admin", **kwargs):
        write = method != "GET"
        response = self.client.request(method, path, headers=self.headers(role, write), **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, (method, path, response.status_code, response.text[:400])
        return response.json() if "json" in response.headers.get("content-type", "") else response

    def next_start(self) -> dt.datetime:
        """A fresh 20-minute slot, so records of one volunteer never overlap."""
        self.slot += 1
        day = SERVICE_DAY + dt.timedelta(days=self.slot // 20)
        return dt.datetime.combine(day, dt.time(6)) + dt.timedelta(minutes=40 * (self.slot % 20))

    # --- fresh objects, made as an admin (or as the recorder) -----------------------------

    def volunteer(self, unit: str = "station_a") -> int:
        return f.volunteer(self.ctx, self.ids[unit], id_number=unique_id_number())

    def record(self, volunteer_id: int | None = None, *, posted: bool = False) -> int:
        volunteer_id = volunteer_id or self.ids["V"]
        start = self.next_start()
        made = self.admin("POST", "/service-records", role="recorder", json={
            "volunteer_id": volunteer_id, "activity_id": f.activity_on(self.ctx, self.ids["activity"], start.date()),
            "started_at": start.isoformat(), "ended_at": (start + dt.timedelta(minutes=30)).isoformat()})
        if posted:
            self.admin("POST", f"/service-records/{made['id']}/approve")
        return made["id"]

    def receipt(self) -> str:
        made = self.admin("POST", f"/desks/{self.ids['desk']}/redemptions", json={
            "volunteer_id": self.ids["V"], "items": [{"item_id": self.ids["item"], "quantity": 1, "price": 1}]})
        return made["number"]

    def reservation(self) -> int:
        made = self.admin("POST", f"/desks/{self.ids['desk']}/reservations", json={
            "volunteer_id": self.ids["V"], "items": [{"item_id": self.ids["item"], "quantity": 1, "price": 1}]})
        return made["id"]

    def batch(self) -> str:
        number = unique_id_number()
        start = self.next_start()
        csv = ("序号,姓名,身份证号,联系电话,所属站点,活动名称,服务类别,服务日期,开始时间,结束时间,服务时长,确认人\n"
               f"1,赵六,{number},13912345678,{self.station_a_name},读书会,文化文艺,{start:%Y-%m-%d},"
               f"{start:%H:%M},{start + dt.timedelta(minutes=30):%H:%M},0.5,王站长\n").encode()
        made = self.admin("POST", "/imports", role="recorder",
                          files={"file": ("台账.csv", csv, "text/csv")})
        return made["batch"]

    def definition(self) -> int:
        made = self.admin("POST", "/rankings/definitions", json={
            "code": f.ref("R"), "name": "年度之星", "unit_id": self.ids["station_a"], "period_kind": "year"})
        self.ids["definition_code"] = made["code"]
        return made["id"]

    def ranking_run(self, definition_id: int | None = None) -> int:
        made = self.admin("POST", "/rankings/runs", json={"definition_id": definition_id or self.ids["definition"],
                                                           "period": "2025", "position": None})
        return made["id"]

    def fresh_ranking_run(self, definition_id: int | None = None) -> int:
        """A run at a new ledger position (a run at the same position is the same run)."""
        self.record(posted=True)
        return self.ranking_run(definition_id)

    def operator(self, desk_id: int | None = None, unit: str = "station_a") -> int:
        """A fresh desk operator with a token (to revoke, disable, enable); returns the user id."""
        made = self.admin("POST", "/users", json={"username": f.ref("op"), "role": "desk_operator",
                                                  "unit_id": self.ids[unit], "desk_id": desk_id or self.ids["desk"]})
        self.admin("POST", f"/users/{made['id']}/tokens")
        return made["id"]

    def adjustment_run(self) -> int:
        made = self.admin("POST", "/policies/adjustment-runs", json={
            "unit_id": self.ids["station_a"], "period_from": "2025-01-01", "period_to": "2025-12-31"})
        return made["id"]


def unique_id_number() -> str:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(365 * 50))
    return f.random_id_number(birth.strftime("%Y%m%d"))


def ed25519_public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def build_world(client, ctx) -> World:
    """Units, users of every role, a volunteer with points, a desk, records, runs, keys."""
    w = World(client, ctx)
    units = f.tree(ctx)
    w.ids.update(units)
    w.station_a_name = "东风村新时代文明实践站"
    _, w.tokens["admin"] = f.user(ctx, "admin")
    _, w.tokens["auditor"] = f.user(ctx, "auditor")
    _, w.tokens["ua_in"] = f.user(ctx, "unit_admin", units["station_a"])
    _, w.tokens["ua_out"] = f.user(ctx, "unit_admin", units["station_b"])
    _, w.tokens["recorder"] = f.user(ctx, "unit_admin", units["institute"])
    w.ids["V"], w.ids["W"] = w.volunteer(), w.volunteer()
    w.ids["V_number"] = w.admin("GET", f"/volunteers/{w.ids['V']}")["number"]
    _, w.tokens["vol_own"] = f.user(ctx, "volunteer", volunteer_id=w.ids["V"])
    _, w.tokens["vol_other"] = f.user(ctx, "volunteer", volunteer_id=w.ids["W"])
    w.ids["point"] = w.admin("POST", "/units", json={"code": f.ref("P"), "name": "东风村一组实践点",
                                                      "kind": "point", "parent_id": units["station_a"]})["id"]
    w.ids["team"] = w.admin("POST", "/teams", json={"code": f.ref("T"), "name": "东风村文艺小队",
                                                     "unit_id": units["station_a"], "category": "文化文艺"})["id"]
    w.ids["activity"] = w.admin("POST", "/activities", json={
        "unit_id": units["station_a"], "title": "文艺汇演", "category": "文化文艺",
        "held_on": SERVICE_DAY.isoformat()})["id"]
    w.ids["desk"] = w.admin("POST", "/desks", json={"unit_id": units["station_a"], "code": f.ref("D"),
                                                    "name": "东风村爱心超市",
                                                    "opening_weekdays": [1, 2, 3, 4, 5, 6, 7]})["id"]
    _, w.tokens["desk"] = f.user(ctx, "desk_operator", units["station_a"], desk_id=w.ids["desk"])
    w.ids["desk_user"] = w.admin("GET", "/me", role="desk")["user_id"]
    w.ids["item"] = w.admin("POST", f"/desks/{w.ids['desk']}/items",
                            json={"name": "毛巾", "price_points": 1})["id"]
    w.admin("POST", f"/desks/{w.ids['desk']}/stock/receive", json={"item_id": w.ids["item"], "quantity": 100000})
    for _ in range(8):  # 8 × 30 min × 10 points an hour = 40 points for V to spend (1 point an item)
        start = w.next_start()
        made = w.admin("POST", "/service-records", role="recorder", json={
            "volunteer_id": w.ids["V"], "activity_id": f.activity_on(ctx, w.ids["activity"], start.date()),
            "started_at": start.isoformat(),
            "ended_at": (start + dt.timedelta(minutes=30)).isoformat()})
        w.admin("POST", f"/service-records/{made['id']}/approve")
    w.ids["record"] = w.record(posted=True)
    w.ids["receipt"] = w.receipt()
    w.ids["batch"] = w.batch()
    w.ids["policy"] = w.admin("POST", "/policies", json={
        "unit_id": units["station_a"], "effective_from": "2020-01-01", "document": default_policy_text()})["id"]
    w.ids["adjustment"] = w.adjustment_run()
    w.ids["definition"] = w.definition()
    w.ids["run"] = w.ranking_run()
    w.admin("POST", f"/rankings/runs/{w.ids['run']}/publish")
    w.ids["official_code"] = w.ids["definition_code"]
    w.ids["report"] = w.admin("POST", "/targets/reports", json={"unit_id": units["station_a"],
                                                                "period": "2025"})["id"]
    w.peer = f.ref("peer-county")
    w.admin("POST", "/deployment-keys", json={"deployment_id": w.peer, "name": "邻县",
                                              "public_key": ed25519_public_key()})
    exported = w.admin("POST", f"/volunteers/{w.volunteer()}/export", json={"to_deployment_id": w.peer})
    w.ids["package"] = exported.get("package_id") or exported.get("id")
    w.certificate = w.admin("POST", f"/selfservice/volunteers/{w.ids['V']}/certificates",
                            json={"date_from": "2025-01-01", "date_to": "2025-12-31"})
    w.elsewhere = build_elsewhere(w)
    return w


def build_elsewhere(w: World) -> dict:
    """Objects of station B, out of scope for ua_in and the desk: what body ids are swapped for."""
    station_b = w.ids["station_b"]
    out = {"unit": station_b, "volunteer": w.volunteer("station_b")}
    out["team"] = w.admin("POST", "/teams", json={"code": f.ref("T"), "name": "南岭村文艺小队",
                                                  "unit_id": station_b, "category": "文化文艺"})["id"]
    out["activity"] = w.admin("POST", "/activities", json={"unit_id": station_b, "title": "南岭村义诊",
                                                           "category": "文化文艺",
                                                           "held_on": SERVICE_DAY.isoformat()})["id"]
    out["desk"] = w.admin("POST", "/desks", json={"unit_id": station_b, "code": f.ref("D"), "name": "南岭村爱心超市",
                                                  "opening_weekdays": [1, 2, 3, 4, 5, 6, 7]})["id"]
    out["item"] = w.admin("POST", f"/desks/{out['desk']}/items", json={"name": "肥皂", "price_points": 1})["id"]
    w.admin("POST", f"/desks/{out['desk']}/stock/receive", json={"item_id": out["item"], "quantity": 1000})
    # ranked over the institute (above station A: out of ua_in's scope too); a ranking of a unit with
    # no unit under it fails on PostgreSQL today (an empty quota-group VALUES list: text = integer)
    out["definition"] = w.admin("POST", "/rankings/definitions", json={
        "code": f.ref("R"), "name": "城关镇年度之星", "unit_id": w.ids["institute"], "period_kind": "year"})["id"]
    out["run"] = w.admin("POST", "/rankings/runs", json={"definition_id": out["definition"], "period": "2025"})["id"]
    out["token"] = w.admin("GET", f"/users/{w.operator(out['desk'], 'station_b')}/tokens")[0]["id"]
    return out
