"""Volunteer self-service over HTTP: sign-in by code, own figures only, lock-out, expiry, ETag."""
from __future__ import annotations

import datetime as dt

import pytest

from tests import factories as f
from tests.selfservice_support import client_at, h, issue_code, new_key, sign_in, story

PATHS = ["summary", "history", "memberships", "redemptions", "certificates"]


@pytest.fixture
def s(ctx):
    return story(ctx)


@pytest.fixture
def api(ctx):
    with client_at(ctx) as client:
        yield client


def test_volunteer_signs_in_and_sees_own_figures(api, ctx, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    body = api.get(f"/selfservice/volunteers/{s.volunteer_id}/summary", headers=h(token)).json()
    # 150 + 120 = 270 min = 4.5 h; 25 + 20 = 45 points; the first star needs 100 h: 95.5 h to go
    assert (body["minutes_total"], body["hours_total"], body["points"], body["points_held"]) == (270, "4.5", 45, 0)
    assert (body["minutes_this_year"], body["star_level"], body["hours_to_next_star"]) == (0, 0, "95.5")
    # points earned last year expire at the end of this year (end_of_following_year)
    expiry = dt.date(s.last_year + 1, 12, 31)
    assert body["points_expiring"] == {"expires_on": expiry.isoformat(), "points": 45,
                                       "is_soon": (expiry - ctx.today()).days <= 90}
    assert body["volunteer"]["number"] == s.number and "id_number" not in body["volunteer"]
    me = api.get("/me", headers=h(token)).json()
    assert (me["role"], me["volunteer_id"]) == ("volunteer", s.volunteer_id)


def test_a_volunteer_token_cannot_read_another_volunteer_by_changing_the_id(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    for path in PATHS:
        own = api.get(f"/selfservice/volunteers/{s.volunteer_id}/{path}", headers=h(token))
        other = api.get(f"/selfservice/volunteers/{s.other_volunteer_id}/{path}", headers=h(token))
        assert own.status_code == 200, (path, own.text)
        assert other.status_code == 404 and s.other_number not in other.text, (path, other.text)
    issued = api.post(f"/selfservice/volunteers/{s.other_volunteer_id}/certificates", headers=h(token, new_key()),
                      json={"date_from": f"{s.last_year}-01-01", "date_to": f"{s.last_year}-12-31"})
    assert issued.status_code == 404
    assert api.get(f"/volunteers/{s.other_volunteer_id}/balances", headers=h(token)).status_code == 404
    # nor can a volunteer issue sign-in codes, for anyone
    assert api.post(f"/selfservice/volunteers/{s.volunteer_id}/sign-in-codes", json={"kind": "code"},
                    headers=h(token)).status_code == 403


def test_a_station_admin_issues_codes_only_inside_their_scope(api, s):
    outside = api.post(f"/selfservice/volunteers/{s.volunteer_id}/sign-in-codes", json={"kind": "code"},
                       headers=h(s.other_station_admin))
    assert outside.status_code == 404
    bad_kind = api.post(f"/selfservice/volunteers/{s.volunteer_id}/sign-in-codes", json={"kind": "password"},
                        headers=h(s.station_admin))
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"


def test_a_one_time_code_works_once_and_a_pin_until_replaced(api, s):
    code = issue_code(api, s.station_admin, s.volunteer_id)
    first = api.post("/selfservice/sign-in", json={"number": s.number, "code": code})
    again = api.post("/selfservice/sign-in", json={"number": s.number, "code": code})
    assert first.status_code == 200 and again.status_code == 401
    pin = issue_code(api, s.station_admin, s.volunteer_id, kind="pin")
    for _ in range(2):
        assert api.post("/selfservice/sign-in", json={"number": s.number, "code": pin}).status_code == 200
    newer = issue_code(api, s.station_admin, s.volunteer_id, kind="pin")
    assert api.post("/selfservice/sign-in", json={"number": s.number, "code": pin}).status_code == 401 or pin == newer
    assert api.post("/selfservice/sign-in", json={"number": s.number, "code": newer}).status_code == 200


def test_wrong_codes_lock_the_volunteer_out_then_the_lock_expires(api, ctx, s):
    code = issue_code(api, s.station_admin, s.volunteer_id)
    wrong = "000000" if code != "000000" else "111111"
    answers = [api.post("/selfservice/sign-in", json={"number": s.number, "code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[0].json()["message"].startswith("志愿者编号或验证码不正确")
    # locked: even the right code is refused, with a clear message and when to retry
    locked = api.post("/selfservice/sign-in", json={"number": s.number, "code": code})
    assert locked.status_code == 429 and "15 分钟后再试" in locked.json()["message"]
    assert locked.json()["code"] == "too_many_attempts" and locked.headers.get("Retry-After")
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + dt.timedelta(minutes=16)
    assert api.post("/selfservice/sign-in", json={"number": s.number, "code": code}).status_code == 200


def test_wrong_codes_from_one_address_lock_that_address(ctx, s):
    ctx.options["sign_in_max_attempts_per_address"] = 3
    with client_at(ctx) as guesser, client_at(ctx) as elsewhere:
        answers = [guesser.post("/selfservice/sign-in", json={"number": f.ref("V"), "code": "123456"})
                   for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 429]
        assert "分钟后再试" in answers[-1].json()["message"]
        code = issue_code(elsewhere, s.station_admin, s.volunteer_id)
        assert guesser.post("/selfservice/sign-in", json={"number": s.number, "code": code}).status_code == 429
        assert elsewhere.post("/selfservice/sign-in", json={"number": s.number, "code": code}).status_code == 200


def test_an_unknown_number_gets_the_same_answer_as_a_wrong_code(api, s):
    unknown = api.post("/selfservice/sign-in", json={"number": "V000000000000", "code": "123456"})
    wrong = api.post("/selfservice/sign-in", json={"number": s.number, "code": "12345x"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_an_expired_session_gets_a_clear_401(api, ctx, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + dt.timedelta(hours=13)  # sessions last 12 hours
    expired = api.get(f"/selfservice/volunteers/{s.volunteer_id}/summary", headers=h(token))
    assert expired.status_code == 401 and "重新登录" in expired.json()["message"]


def test_sign_out_revokes_the_token(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    assert api.post("/selfservice/sign-out", headers=h(token)).status_code == 200
    assert api.get(f"/selfservice/volunteers/{s.volunteer_id}/summary", headers=h(token)).status_code == 401


def test_etag_answers_304_until_something_changes(api, ctx, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    url = f"/selfservice/volunteers/{s.volunteer_id}/summary"
    first = api.get(url, headers=h(token))
    etag = first.headers["ETag"]
    unchanged = api.get(url, headers={**h(token), "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == etag
    history = api.get(f"/selfservice/volunteers/{s.volunteer_id}/history", headers=h(token))
    assert history.headers["ETag"] != etag  # each resource has its own tag
    assert api.get(f"/selfservice/volunteers/{s.volunteer_id}/history",
                   headers={**h(token), "If-None-Match": history.headers["ETag"]}).status_code == 304
    # a new posted service changes the figures, hence the tag
    activity_id = f.activity(ctx, s.units["station_a"], dt.date(s.last_year, 9, 9))
    f.served(ctx, s.recorder, s.approver, s.volunteer_id, activity_id, dt.datetime(s.last_year, 9, 9, 14), 60)
    changed = api.get(url, headers={**h(token), "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["minutes_total"] == 330 and changed.headers["ETag"] != etag


def test_history_filters_by_date_and_kind_and_pages(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    url = f"/selfservice/volunteers/{s.volunteer_id}/history"
    everything = api.get(url, headers=h(token)).json()
    assert [i["activity"] for i in everything["items"]] == ["垃圾分类宣传", "广场舞教学"]
    assert everything["kinds"] == ["service"]
    march = api.get(url, params={"date_from": f"{s.last_year}-03-01", "date_to": f"{s.last_year}-03-31"},
                    headers=h(token)).json()
    assert [(i["activity"], i["minutes"], i["points"]) for i in march["items"]] == [("广场舞教学", 150, 25)]
    assert api.get(url, params={"kind": "redemption"}, headers=h(token)).json()["items"] == []
    page1 = api.get(url, params={"limit": 1}, headers=h(token)).json()
    page2 = api.get(url, params={"limit": 1, "before_id": page1["next_before_id"]}, headers=h(token)).json()
    assert [i["activity"] for i in page1["items"] + page2["items"]] == ["垃圾分类宣传", "广场舞教学"]
    assert page2["next_before_id"] is None


def test_memberships_and_redemptions(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    members = api.get(f"/selfservice/volunteers/{s.volunteer_id}/memberships", headers=h(token)).json()["items"]
    assert [(m["unit"], m["is_home"], m["valid_to"]) for m in members] == [("东风村新时代文明实践站", True, None)]
    redemptions = api.get(f"/selfservice/volunteers/{s.volunteer_id}/redemptions", headers=h(token)).json()
    assert redemptions == {"items": [], "next_before_id": None}
