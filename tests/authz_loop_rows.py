"""Rows of the authorisation matrix for the service loop (orders, sign-up, check-in, joining).

Kept apart from tests/test_authz_matrix.py, which registers them with `register(row, fixed)`.
Fresh objects are made through the HTTP API as the admin; the public forms answer a fresh
challenge.  The matrix sends every public form from one test address, so the per-address
hourly limits of the public forms are lifted for it (the limits have tests of their own).
"""
from __future__ import annotations

import datetime as dt

from tests import factories as f

ANYONE = (200,) * 8
UNIT_ROW = (200, 200, 404, 403, 403, 403, 403, 401)  # admins in scope; station B does not see station A
READ_ROW = (200, 200, 404, 403, 200, 403, 403, 401)  # the same, plus the auditor
DISPATCH_ROW = (200, 403, 403, 403, 403, 403, 403, 401)  # the center (admin); a station may not
VOLUNTEER_ROW = (403, 403, 403, 403, 403, 200, 200, 401)  # the signed-in volunteer only


def _answer(w) -> dict:
    w.ctx.options["orders_per_address_per_hour"] = 10_000
    w.ctx.options["applications_per_address_per_hour"] = 10_000
    challenge = w.client.get("/public/challenge").json()
    first, _, rest = challenge["question"].partition(" 加 ")
    return {"challenge": challenge["challenge"], "challenge_answer": str(int(first) + int(rest.split(" ")[0]))}


def _order_body(w) -> dict:
    wanted = (dt.datetime.now() + dt.timedelta(days=2)).replace(microsecond=0)
    return {"unit_id": w.ids["station_a"], "kind": "文化服务", "title": "文艺演出", "place": "文化礼堂",
            "wanted_at": wanted.isoformat(), "contact_name": "赵大爷",
            "phone": "139" + f"{int(f.ref('p')[2:], 16) % 10**8:08d}"}


def order(w) -> tuple[int, str]:
    made = w.admin("POST", "/orders", json=_order_body(w))
    return made["order"]["id"], made["rating_token"]


def dispatched(w) -> tuple[int, str]:
    order_id, token = order(w)
    deadline = (dt.datetime.now() + dt.timedelta(days=1)).replace(microsecond=0).isoformat()
    w.admin("POST", f"/orders/{order_id}/dispatch", json={"deadline": deadline, "unit_id": w.ids["station_a"]})
    return order_id, token


def taken(w, *, with_record: bool = False) -> tuple[int, str, int]:
    order_id, token = dispatched(w)
    start = w.next_start()  # a record lies on its activity's day: the order is held on the record's
    activity_id = w.admin("POST", f"/orders/{order_id}/take",
                          json={"held_on": start.date().isoformat()} if with_record else {})["activity_id"]
    if with_record:
        made = w.admin("POST", "/service-records", role="recorder", json={
            "volunteer_id": w.ids["V"], "activity_id": activity_id, "started_at": start.isoformat(),
            "ended_at": (start + dt.timedelta(minutes=30)).isoformat()})
        w.admin("POST", f"/service-records/{made['id']}/approve")
    return order_id, token, activity_id


def completed(w) -> tuple[int, str]:
    order_id, token, _activity = taken(w, with_record=True)
    w.admin("POST", f"/orders/{order_id}/complete")
    return order_id, token


def activity(w) -> int:
    return w.admin("POST", "/activities", json={"unit_id": w.ids["station_a"], "title": "读书会",
                                                "category": "文化文艺", "held_on": dt.date.today().isoformat()})["id"]


def recruited(w) -> int:
    activity_id = activity(w)
    deadline = (dt.datetime.now() + dt.timedelta(days=1)).replace(microsecond=0).isoformat()
    w.admin("POST", f"/activities/{activity_id}/recruitment", json={"quota": 50, "deadline": deadline})
    return activity_id


def application(w) -> int:
    made = w.client.post("/public/applications", headers=w.headers("anon", write=True), json={
        "unit_id": w.ids["station_a"], "name": "郑华", "id_number": f.random_id_number(), **_answer(w)})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def register(row, fixed) -> None:
    """Register the service loop's rows on the matrix."""
    fixed("GET", "/public/challenge", ANYONE, "/public/challenge")
    fixed("GET", "/public/units", ANYONE, "/public/units")
    fixed("GET", "/public/service-kinds", ANYONE, lambda w: f"/public/service-kinds?unit_id={w.ids['station_a']}")

    @row("POST", "/public/orders", *(201,) * 8)
    def _(w, role):
        return "/public/orders", {"json": {**_order_body(w), **_answer(w)}}

    @row("GET", "/public/orders/{order_id}", *ANYONE)
    def _(w, role):
        order_id, token = order(w)
        return f"/public/orders/{order_id}?token={token}", {}

    @row("POST", "/public/orders/{order_id}/rating", *ANYONE)
    def _(w, role):
        order_id, token = completed(w)
        return f"/public/orders/{order_id}/rating", {"json": {"token": token, "rating": 5}}

    @row("POST", "/public/orders/{order_id}/complaint", *ANYONE)
    def _(w, role):
        order_id, token = completed(w)
        return f"/public/orders/{order_id}/complaint", {"json": {"token": token, "text": "迟到"}}

    _register_staff_orders(row, fixed)
    _register_signups(row, fixed)
    _register_pages(row, fixed)


def _register_staff_orders(row, fixed) -> None:
    @row("POST", "/orders", 201, 201, 404, 403, 403, 403, 403, 401)
    def _(w, role):
        return "/orders", {"json": _order_body(w)}

    fixed("GET", "/orders", (200, 200, 200, 403, 200, 403, 403, 401), "/orders")
    fixed("GET", "/orders/report", READ_ROW,
          lambda w: f"/orders/report?unit_id={w.ids['station_a']}&date_from=2025-01-01&date_to=2030-12-31")

    @row("GET", "/orders/{order_id}", *READ_ROW)
    def _(w, role):
        return f"/orders/{order(w)[0]}", {}

    @row("POST", "/orders/{order_id}/dispatch", *DISPATCH_ROW)
    def _(w, role):
        deadline = (dt.datetime.now() + dt.timedelta(days=1)).replace(microsecond=0).isoformat()
        return f"/orders/{order(w)[0]}/dispatch", {"json": {"deadline": deadline, "unit_id": w.ids["station_a"]}}

    @row("POST", "/orders/{order_id}/take", *UNIT_ROW)
    def _(w, role):
        return f"/orders/{dispatched(w)[0]}/take", {"json": {}}

    @row("POST", "/orders/{order_id}/decline", *UNIT_ROW)
    def _(w, role):
        return f"/orders/{dispatched(w)[0]}/decline", {"json": {"reason": "人手不够"}}

    @row("POST", "/orders/{order_id}/complete", *UNIT_ROW)
    def _(w, role):
        return f"/orders/{taken(w, with_record=True)[0]}/complete", {}

    @row("POST", "/orders/{order_id}/cancel", *DISPATCH_ROW)
    def _(w, role):
        return f"/orders/{order(w)[0]}/cancel", {"json": {"reason": "重复点单"}}

    @row("POST", "/orders/{order_id}/complaint/resolve", *DISPATCH_ROW)
    def _(w, role):
        order_id, token = completed(w)
        w.client.post(f"/public/orders/{order_id}/complaint", headers=w.headers("anon", write=True),
                      json={"token": token, "text": "迟到"})
        return f"/orders/{order_id}/complaint/resolve", {"json": {"upheld": False, "note": "经核实不属实"}}


def _register_signups(row, fixed) -> None:
    @row("POST", "/activities/{activity_id}/recruitment", 201, 201, 404, 403, 403, 403, 403, 401)
    def _(w, role):
        deadline = (dt.datetime.now() + dt.timedelta(days=1)).replace(microsecond=0).isoformat()
        return f"/activities/{activity(w)}/recruitment", {"json": {"quota": 5, "deadline": deadline}}

    @row("GET", "/activities/{activity_id}/signups", *READ_ROW)
    def _(w, role):
        return f"/activities/{recruited(w)}/signups", {}

    fixed("GET", "/recruitments/open", VOLUNTEER_ROW, "/recruitments/open")

    @row("POST", "/activities/{activity_id}/signup", 403, 403, 403, 403, 403, 201, 201, 401)
    def _(w, role):
        return f"/activities/{recruited(w)}/signup", {}

    @row("POST", "/activities/{activity_id}/signup/cancel", *VOLUNTEER_ROW)
    def _(w, role):
        activity_id = recruited(w)
        for volunteer in ("vol_own", "vol_other"):
            w.admin("POST", f"/activities/{activity_id}/signup", role=volunteer)
        return f"/activities/{activity_id}/signup/cancel", {}

    for suffix in ("", ".svg"):
        @row("GET", "/activities/{activity_id}/checkin-code" + suffix, *UNIT_ROW)
        def _(w, role, suffix=suffix):
            return f"/activities/{activity(w)}/checkin-code{suffix}", {}

    @row("POST", "/checkin/scan", *VOLUNTEER_ROW)
    def _(w, role):
        activity_id = activity(w)
        code = w.admin("GET", f"/activities/{activity_id}/checkin-code")["url"]
        return "/checkin/scan", {"json": {"code": code, "direction": "in"}}

    @row("POST", "/activities/{activity_id}/attendance", 201, 201, 404, 403, 403, 403, 403, 401)
    def _(w, role):
        return f"/activities/{activity(w)}/attendance", {"json": {"volunteer_id": w.ids["V"], "direction": "in"}}

    @row("POST", "/activities/{activity_id}/flags/{flag_id}/resolve", *UNIT_ROW)
    def _(w, role):
        activity_id = activity(w)
        w.admin("POST", f"/activities/{activity_id}/attendance", expect=201,
                json={"volunteer_id": w.ids["W"], "direction": "in", "at": "2025-06-10T10:00"})
        out = w.admin("POST", f"/activities/{activity_id}/attendance", expect=201,
                      json={"volunteer_id": w.ids["W"], "direction": "out", "at": "2025-06-10T09:00"})
        return f"/activities/{activity_id}/flags/{out['flag']['id']}/resolve", {"json": {"note": "已核实"}}

    @row("GET", "/activities/{activity_id}/attendance", *READ_ROW)
    def _(w, role):
        return f"/activities/{activity(w)}/attendance", {}

    @row("POST", "/public/applications", *(201,) * 8)
    def _(w, role):
        w.ctx.options["applications_per_address_per_hour"] = 10_000
        challenge = _answer(w)
        return "/public/applications", {"json": {"unit_id": w.ids["station_a"], "name": "钱程",
                                                 "id_number": f.random_id_number(), **challenge}}

    fixed("GET", "/applications", (200, 200, 200, 403, 200, 403, 403, 401), "/applications")

    @row("POST", "/applications/{application_id}/confirm", *UNIT_ROW)
    def _(w, role):
        return f"/applications/{application(w)}/confirm", {}

    @row("POST", "/applications/{application_id}/refuse", *UNIT_ROW)
    def _(w, role):
        return f"/applications/{application(w)}/refuse", {"json": {"reason": "信息不全"}}


PAGES = ("/order", "/join", "/phone", "/loop", "/loop/applications", "/loop/report", "/static/loop.css",
         "/text-size", "/loop/orders/new")
PHONE_POSTS = ("/phone/scan", "/phone/signup", "/phone/signup/cancel")  # not signed in on this phone: 401
FORM_POSTS = ("/order", "/join", "/phone/sign-in", "/phone/sign-out")
STAFF_POSTS = ("/loop/orders", "/loop/orders/{order_id}/dispatch", "/loop/orders/{order_id}/take", "/loop/orders/{order_id}/decline",
               "/loop/orders/{order_id}/complete", "/loop/orders/{order_id}/resolve",
               "/loop/activities/{activity_id}/recruitment", "/loop/activities/{activity_id}/attendance",
               "/loop/applications/{application_id}/confirm", "/loop/applications/{application_id}/refuse",
               "/loop/records/{record_id}/approve", "/loop/activities/{activity_id}/flags/{flag_id}/resolve")


def _register_pages(row, fixed) -> None:
    """The pages sign in by cookie, never by bearer token: every role is a visitor to them.

    A page without its cookie shows the sign-in form (200; the organiser's pages redirect to the
    console's, followed here); a form posted without the page's CSRF token is refused (403); a
    volunteer's form without the phone's session, 401; an organiser's form without the console's
    session goes to the console's sign-in form (a redirect, followed: 200).
    """
    for path in PAGES:
        fixed("GET", path, ANYONE, path)
    fixed("GET", "/checkin", ANYONE, "/checkin?a=1&w=1&c=x")
    fixed("GET", "/loop/activities/{activity_id}", ANYONE, lambda w: f"/loop/activities/{w.ids['activity']}")
    fixed("GET", "/loop/activities/{activity_id}/qr", ANYONE, lambda w: f"/loop/activities/{w.ids['activity']}/qr")
    fixed("GET", "/loop/activities/{activity_id}/qr.svg", ANYONE,
          lambda w: f"/loop/activities/{w.ids['activity']}/qr.svg")

    @row("GET", "/order/{order_id}", *ANYONE)
    def _(w, role):
        order_id, token = order(w)
        return f"/order/{order_id}?t={token}", {}

    for path in ("/order/{order_id}/rating", "/order/{order_id}/complaint"):
        fixed("POST", path, (403,) * 8, lambda w, path=path: path.replace("{order_id}", str(order(w)[0])),
              data={"t": "x"})
    for path in FORM_POSTS:
        fixed("POST", path, (403,) * 8, path, data={"csrf": "forged"})
    for path in PHONE_POSTS:
        fixed("POST", path, (401,) * 8, path, data={})
    for path in STAFF_POSTS:
        fixed("POST", path, ANYONE,
              lambda w, path=path: path.replace("{order_id}", "1").replace("{activity_id}", str(w.ids["activity"]))
              .replace("{application_id}", "1").replace("{record_id}", "1").replace("{flag_id}", "1"), data={})
