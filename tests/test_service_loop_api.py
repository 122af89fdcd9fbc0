"""The service loop over HTTP: the resident's public endpoints, the staff's steps, the
volunteer's sign-up and scans, and errors as {"code", "message", "field"} in Chinese."""
from __future__ import annotations

import datetime as dt
import secrets

from fastapi.testclient import TestClient

from api.app import create_app
from tests import factories as f
from tests.loop_support import clocked, world


def _address() -> tuple[str, int]:
    """A client address of this test's own: the public forms' hourly limits count per address."""
    return (f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}", 4000)


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": f.ref("k")}


def _answer(question: str) -> str:
    first, _, rest = question.partition(" 加 ")
    return str(int(first) + int(rest.split(" ")[0]))


def test_the_loop_over_http_from_a_public_order_to_points(ctx):
    ctx, clock = clocked(ctx, dt.datetime(2026, 11, 9, 9, 0))
    w = world(ctx)
    tokens, units = w["tokens"], w["units"]
    with TestClient(create_app(ctx), client=_address()) as client:
        kinds = client.get("/public/service-kinds", params={"unit_id": units["station_a"]}).json()
        assert kinds[:6] == ["理论宣讲", "教育服务", "文化服务", "科技科普", "健身体育", "文明创建"]
        challenge = client.get("/public/challenge").json()
        body = {"unit_id": units["station_a"], "kind": "科技科普", "title": "防诈骗知识讲座", "place": "村委会",
                "wanted_at": "2026-11-10T14:00", "contact_name": "吴大姐", "phone": "13711112222",
                "challenge": challenge["challenge"], "challenge_answer": _answer(challenge["question"])}
        answer = client.post("/public/orders", json=body, headers={"Idempotency-Key": f.ref("k")})
        assert answer.status_code == 201, answer.text
        order, link_token = answer.json()["order"], answer.json()["rating_token"]
        assert order["phone_masked"] == "137****2222" and "13711112222" not in answer.text
        order_id = order["id"]
        dispatched = client.post(f"/orders/{order_id}/dispatch", headers=_auth(tokens["center"]),
                                 json={"deadline": "2026-11-09T18:00", "unit_id": units["station_a"]})
        assert dispatched.status_code == 200, dispatched.text
        taken = client.post(f"/orders/{order_id}/take", headers=_auth(tokens["station"]), json={}).json()
        activity_id = taken["activity_id"]
        assert client.post(f"/activities/{activity_id}/recruitment", headers=_auth(tokens["station"]),
                           json={"quota": 3, "deadline": "2026-11-10T12:00"}).status_code == 201
        volunteer_token = w["vol_tokens"][0]
        assert client.post(f"/activities/{activity_id}/signup", headers=_auth(volunteer_token)).status_code == 201
        opened = client.get("/recruitments/open", headers=_auth(volunteer_token)).json()
        assert [o["is_signed_up"] for o in opened if o["activity"]["id"] == activity_id] == [True]

        clock.set(dt.datetime(2026, 11, 10, 14, 0))
        stale = client.get(f"/activities/{activity_id}/checkin-code", headers=_auth(tokens["station"])).json()["url"]
        assert client.post("/checkin/scan", headers=_auth(volunteer_token),
                           json={"code": stale, "direction": "in"}).status_code == 200
        clock.set(dt.datetime(2026, 11, 10, 15, 30))
        refused = client.post("/checkin/scan", headers=_auth(volunteer_token), json={"code": stale, "direction": "out"})
        assert refused.status_code == 422 and "过期" in refused.json()["message"]
        assert refused.json()["field"] == "code"
        fresh = client.get(f"/activities/{activity_id}/checkin-code", headers=_auth(tokens["station"])).json()["url"]
        out = client.post("/checkin/scan", headers=_auth(volunteer_token), json={"code": fresh, "direction": "out"})
        record = out.json()["record"]
        assert record["minutes"] == 90 and record["status"] == "pending"
        svg = client.get(f"/activities/{activity_id}/checkin-code.svg", headers=_auth(tokens["station"]))
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<script" not in svg.content

        assert client.post(f"/service-records/{record['id']}/approve",
                           headers=_auth(tokens["institute"])).status_code == 200
        assert client.post(f"/orders/{order_id}/complete", headers=_auth(tokens["station"])).status_code == 200
        wrong = client.post(f"/public/orders/{order_id}/rating", headers={"Idempotency-Key": f.ref("k")},
                            json={"token": "x" * 24, "rating": 5})
        assert wrong.status_code == 403 and "点单人" in wrong.json()["message"]
        rated = client.post(f"/public/orders/{order_id}/rating", headers={"Idempotency-Key": f.ref("k")},
                            json={"token": link_token, "rating": 4, "comment": "讲得清楚"})
        assert rated.status_code == 200, rated.text
        # 90 min = 1.5 h × 10 = 15 points (科学普及 ×1.0); rating 4: ×1.1 = 16.5 → 17 (half up): +2
        balances = client.get(f"/volunteers/{w['volunteers'][0]}/balances", headers=_auth(volunteer_token)).json()
        assert balances["points"] == 17
        report = client.get("/orders/report", headers=_auth(tokens["center"]),
                            params={"unit_id": units["center"], "date_from": "2026-11-01", "date_to": "2026-11-30"})
        assert report.json()["total"]["rated"] == 1 and report.json()["total"]["rating_avg"] == "4.0"
        resident = client.get(f"/public/orders/{order_id}", params={"token": link_token}).json()
        assert resident["state_name"] == "已评单"


def test_an_order_for_a_unit_that_does_not_exist_answers_a_chinese_404(ctx):
    with TestClient(create_app(ctx), client=_address()) as client:
        challenge = client.get("/public/challenge").json()
        body = {"unit_id": 99999999, "kind": "文化服务", "title": "x", "place": "y",
                "wanted_at": "2036-11-10T14:00", "contact_name": "z", "phone": "13711112222",
                "challenge": challenge["challenge"], "challenge_answer": _answer(challenge["question"])}
        answer = client.post("/public/orders", json=body, headers={"Idempotency-Key": f.ref("k")})
        assert answer.status_code == 404 and answer.json()["field"] == "unit_id"
        assert "不存在" in answer.json()["message"]


def test_joining_from_the_phone_over_http(ctx):
    w = world(ctx)
    with TestClient(create_app(ctx), client=_address()) as client:
        challenge = client.get("/public/challenge").json()
        id_number = f.random_id_number()
        answer = client.post("/public/applications", headers={"Idempotency-Key": f.ref("k")}, json={
            "unit_id": w["units"]["station_a"], "name": "郑华", "id_number": id_number, "phone": "13900001111",
            "challenge": challenge["challenge"], "challenge_answer": _answer(challenge["question"])})
        assert answer.status_code == 201, answer.text
        queue = client.get("/applications", headers=_auth(w["tokens"]["station"])).json()
        mine = [a for a in queue if a["id"] == answer.json()["id"]]
        assert mine and id_number not in str(mine) and mine[0]["id_masked"].endswith(id_number[-4:])
        confirmed = client.post(f"/applications/{mine[0]['id']}/confirm", headers=_auth(w["tokens"]["station"]))
        assert confirmed.status_code == 200 and confirmed.json()["volunteer"]["name"] == "郑华"
