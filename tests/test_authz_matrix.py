"""The authorisation matrix: every endpoint × every role, on in-scope and out-of-scope objects.

The objects a request names belong to station A and to volunteer V (tests/authz_world.py),
so `ua_in` (unit admin of station A) acts in scope and `ua_out` (unit admin of station B)
out of scope; `vol_own` is V, `vol_other` another volunteer.  Each cell is one request with
fresh objects where the request changes state, and its expected status is written out below.
The endpoint list comes from the app's routes: a new endpoint that is not in TABLE fails the
test until someone writes down who may call it.

Reading the statuses: 2xx allowed; 401 no token; 403 the role may not do this; 404 the
object is outside the caller's scope (never "forbidden", so a token does not learn it
exists); 409/422 the caller got past authorisation and was refused on the state or body
(noted where the matrix relies on it).
"""
from __future__ import annotations

from api.middleware import iter_api_routes
from tests import factories as f
from tests.authz_loop_rows import register as register_loop_rows
from tests.authz_world import ROLES, World, build_world, ed25519_public_key, unique_id_number

#            admin ua_in ua_out desk auditor vol_own vol_other anon
A = ROLES  # column order of every row below


def _v(w: World) -> int:
    return w.ids["V"]


# (method, path) -> (build(world, role) -> (path, request kwargs), expected statuses in ROLES order)
TABLE: dict[tuple[str, str], tuple] = {}


def row(method: str, path: str, *statuses: int):
    def register(build):
        assert len(statuses) == len(ROLES), (method, path)
        TABLE[(method, path)] = (build, statuses)
        return build
    return register


def fixed(method: str, path: str, statuses: tuple, url, **kwargs):
    TABLE[(method, path)] = ((lambda w, role: (url(w) if callable(url) else url, kwargs)), statuses)


# --- auth ----------------------------------------------------------------------------------
fixed("GET", "/me", (200, 200, 200, 200, 200, 200, 200, 401), "/me")


@row("POST", "/users", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/users", {"json": {"username": f.ref("u"), "role": "desk_operator", "volunteer_id": None,
                               "unit_id": w.ids["station_a"], "desk_id": w.ids["desk"]}}


fixed("POST", "/users/{user_id}/tokens", (201, 201, 404, 403, 403, 403, 403, 401),
      lambda w: f"/users/{w.ids['desk_user']}/tokens")
fixed("GET", "/users", (200, 200, 200, 403, 403, 403, 403, 401), "/users")  # each sees the users within reach
fixed("GET", "/users/{user_id}/tokens", (200, 200, 404, 403, 403, 403, 403, 401),
      lambda w: f"/users/{w.ids['desk_user']}/tokens")


@row("POST", "/users/{user_id}/tokens/revoke", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/users/{w.operator()}/tokens/revoke", {"json": {"token_id": None}}


for verb in ("disable", "enable"):
    fixed("POST", "/users/{user_id}/" + verb, (200, 200, 404, 403, 403, 403, 403, 401),
          lambda w, verb=verb: f"/users/{w.operator()}/{verb}")

# --- organisation --------------------------------------------------------------------------


@row("POST", "/units", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/units", {"json": {"code": f.ref("P"), "name": "新实践点", "kind": "point",
                               "parent_id": w.ids["station_a"]}}


fixed("GET", "/units", (200, 200, 200, 200, 200, 200, 200, 401), "/units")
fixed("GET", "/units/{unit_id}", (200, 200, 404, 200, 200, 404, 404, 401), lambda w: f"/units/{w.ids['station_a']}")
fixed("GET", "/units/{unit_id}/hours", (200, 200, 404, 200, 200, 404, 404, 401),
      lambda w: f"/units/{w.ids['station_a']}/hours")


@row("POST", "/teams", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/teams", {"json": {"code": f.ref("T"), "name": "新小队", "unit_id": w.ids["station_a"],
                               "category": "文化文艺"}}


fixed("GET", "/teams", (200, 200, 200, 200, 200, 200, 200, 401), "/teams")

# --- volunteers ----------------------------------------------------------------------------


@row("POST", "/volunteers", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/volunteers", {"json": {"name": "李四", "home_unit_id": w.ids["station_a"],
                                    "id_number": unique_id_number(), "phone": "13800138000"}}


fixed("GET", "/volunteers", (200, 200, 200, 200, 200, 403, 403, 401), "/volunteers")
for suffix in ("", "/balances", "/history", "/stars", "/memberships"):
    fixed("GET", "/volunteers/{volunteer_id}" + suffix, (200, 200, 404, 200, 200, 200, 404, 401),
          lambda w, suffix=suffix: f"/volunteers/{_v(w)}{suffix}")


@row("POST", "/volunteers/{volunteer_id}/transfer", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/volunteers/{w.volunteer()}/transfer", {"json": {"to_unit_id": w.ids["point"],
                                                              "effective_on": "2026-01-01"}}


@row("POST", "/volunteers/{volunteer_id}/export", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/volunteers/{w.volunteer()}/export", {"json": {"to_deployment_id": w.peer}}


# a made-up package: allowed roles get past authorisation and are refused on its signature
# the package is checked before the home unit's scope: ua_out learns only "not a package"
fixed("POST", "/transfer-packages/import", (422, 422, 422, 403, 403, 403, 403, 401), "/transfer-packages/import",
      json={"package": {"not": "signed"}, "home_unit_id": 0})
TABLE[("POST", "/transfer-packages/import")] = (
    lambda w, role: ("/transfer-packages/import", {"json": {"package": {"not": "signed"},
                                                            "home_unit_id": w.ids["station_a"]}}),
    TABLE[("POST", "/transfer-packages/import")][1])
# deployment-level objects: admins and auditors only
fixed("GET", "/transfer-packages", (200, 403, 403, 403, 200, 403, 403, 401), "/transfer-packages")
# a package is seen by whoever sees its volunteer
fixed("GET", "/transfer-packages/{package_id}", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/transfer-packages/{w.ids['package']}")
fixed("GET", "/deployment-keys", (200, 403, 403, 403, 200, 403, 403, 401), "/deployment-keys")


@row("POST", "/deployment-keys", 201, 403, 403, 403, 403, 403, 403, 401)
def _(w, role):
    return "/deployment-keys", {"json": {"deployment_id": f.ref("peer"), "public_key": ed25519_public_key()}}


# --- activities and service records --------------------------------------------------------


@row("POST", "/activities", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/activities", {"json": {"unit_id": w.ids["station_a"], "title": "义诊", "category": "医疗健身",
                                    "held_on": "2025-06-10"}}


fixed("GET", "/activities", (200, 200, 200, 200, 200, 200, 200, 401), "/activities")


@row("POST", "/service-records", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    start = w.next_start()
    return "/service-records", {"json": {"volunteer_id": w.volunteer(),
                                         "activity_id": f.activity_on(w.ctx, w.ids["activity"], start.date()),
                                         "started_at": start.isoformat(),
                                         "ended_at": start.replace(minute=start.minute + 10).isoformat()}}


fixed("GET", "/service-records", (200, 200, 200, 200, 200, 200, 200, 401), "/service-records")
fixed("GET", "/service-records/{record_id}", (200, 200, 404, 200, 200, 200, 404, 401),
      lambda w: f"/service-records/{w.ids['record']}")


@row("POST", "/service-records/{record_id}/approve", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/service-records/{w.record(w.volunteer())}/approve", {}


@row("POST", "/service-records/{record_id}/reject", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/service-records/{w.record(w.volunteer())}/reject", {"json": {"reason": "重复登记"}}


@row("POST", "/service-records/{record_id}/reverse", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/service-records/{w.record(w.volunteer(), posted=True)}/reverse", {"json": {"reason": "录入错误"}}


@row("POST", "/service-records/{record_id}/rating", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/service-records/{w.record(w.volunteer(), posted=True)}/rating", {"json": {"rating": 5}}


# --- imports -------------------------------------------------------------------------------


@row("POST", "/imports", 201, 201, 422, 403, 403, 403, 403, 401)
def _(w, role):
    # ua_out: station A is not among the stations it may import into, so every row is refused
    start = w.next_start()
    csv = ("序号,姓名,身份证号,联系电话,所属站点,活动名称,服务类别,服务日期,开始时间,结束时间,服务时长,确认人\n"
           f"1,钱七,{unique_id_number()},13912345678,{w.station_a_name},读书会,文化文艺,{start:%Y-%m-%d},"
           f"{start:%H:%M},{start.replace(minute=start.minute + 10):%H:%M},10分钟,王站长\n").encode()
    return "/imports", {"files": {"file": ("台账.csv", csv, "text/csv")}}


# question for the imports owner: a desk operator of the station reads batch counts (no names)
fixed("GET", "/imports/{batch}", (200, 200, 404, 200, 200, 404, 404, 401), lambda w: f"/imports/{w.ids['batch']}")


@row("POST", "/imports/{batch}/approve", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/imports/{w.batch()}/approve", {}


# --- the ledger's integrity ----------------------------------------------------------------
fixed("GET", "/ledger/verify", (200, 403, 403, 403, 200, 403, 403, 401), "/ledger/verify")
fixed("GET", "/ledger/checkpoints", (200, 403, 403, 403, 200, 403, 403, 401), "/ledger/checkpoints")
fixed("GET", "/audit", (200, 403, 403, 403, 200, 403, 403, 401), "/audit")
# the service's metrics: loopback scrapers, or admins and auditors (the test client is not loopback)
fixed("GET", "/metrics", (200, 403, 403, 403, 200, 403, 403, 401), "/metrics")

# --- policies ------------------------------------------------------------------------------


# policies are published by an admin or a center admin (中心管理员), not by a station admin
@row("POST", "/policies", 201, 403, 404, 403, 403, 403, 403, 401)
def _(w, role):
    from ledger.incentives.pricing import default_policy_text
    w.slot += 1
    return "/policies", {"json": {"unit_id": w.ids["station_a"], "effective_from": f"20{10 + w.slot % 80:02d}-01-01",
                                  "document": default_policy_text()}}


# volunteers list the policies of a unit only (pass unit_id)
fixed("GET", "/policies", (200, 200, 200, 200, 200, 403, 403, 401), "/policies")
fixed("GET", "/policies/in-force", (200, 200, 404, 200, 200, 200, 200, 401),
      lambda w: f"/policies/in-force?unit_id={w.ids['station_a']}")
fixed("GET", "/policies/{version_id}", (200, 200, 404, 200, 200, 403, 403, 401), lambda w: f"/policies/{w.ids['policy']}")


# a what-if writes nothing: auditors may run it
@row("POST", "/policies/what-if", 200, 200, 404, 403, 200, 403, 403, 401)
def _(w, role):
    from ledger.incentives.pricing import default_policy_text
    return "/policies/what-if", {"json": {"unit_id": w.ids["station_a"], "period_from": "2025-01-01",
                                          "period_to": "2025-12-31", "document": default_policy_text()}}


# describing a draft reads nothing of the ledger: any signed-in user
@row("POST", "/policies/describe", 200, 200, 200, 200, 200, 200, 200, 401)
def _(w, role):
    from ledger.incentives.pricing import default_policy_text
    return "/policies/describe", {"json": {"document": default_policy_text()}}


@row("POST", "/policies/adjustment-runs", 201, 403, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/policies/adjustment-runs", {"json": {"unit_id": w.ids["station_a"], "period_from": "2025-01-01",
                                                  "period_to": "2025-12-31"}}


# question for the policies owner: the station's desk operator reads its adjustment runs
fixed("GET", "/policies/adjustment-runs/{run_id}", (200, 200, 404, 200, 200, 404, 404, 401),
      lambda w: f"/policies/adjustment-runs/{w.ids['adjustment']}")


@row("POST", "/policies/adjustment-runs/{run_id}/confirm", 200, 403, 404, 403, 403, 404, 404, 401)
def _(w, role):
    return f"/policies/adjustment-runs/{w.adjustment_run()}/confirm", {}


# --- desks ---------------------------------------------------------------------------------
fixed("GET", "/desk", (200,) * 8, "/desk")


@row("POST", "/desks", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/desks", {"json": {"unit_id": w.ids["station_a"], "code": f.ref("D"), "name": "新爱心超市"}}


fixed("GET", "/desks", (200, 200, 200, 200, 200, 200, 200, 401), "/desks")
fixed("GET", "/desks/{desk_id}", (200, 200, 404, 200, 200, 200, 200, 401), lambda w: f"/desks/{w.ids['desk']}")


@row("POST", "/desks/{desk_id}/items", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/desks/{w.ids['desk']}/items", {"json": {"name": f.ref("皂"), "price_points": 3}}


fixed("GET", "/desks/{desk_id}/items", (200, 200, 404, 200, 200, 200, 200, 401),
      lambda w: f"/desks/{w.ids['desk']}/items")
fixed("POST", "/desks/{desk_id}/items/{item_id}/price", (200, 200, 404, 403, 403, 403, 403, 401),
      lambda w: f"/desks/{w.ids['desk']}/items/{w.ids['item']}/price", json={"price_points": 1})
fixed("POST", "/desks/{desk_id}/stock/receive", (201, 201, 404, 201, 403, 403, 403, 401),
      lambda w: f"/desks/{w.ids['desk']}/stock/receive", json=None)
TABLE[("POST", "/desks/{desk_id}/stock/receive")] = (
    lambda w, role: (f"/desks/{w.ids['desk']}/stock/receive", {"json": {"item_id": w.ids["item"], "quantity": 5}}),
    TABLE[("POST", "/desks/{desk_id}/stock/receive")][1])
TABLE[("POST", "/desks/{desk_id}/stock/count")] = (
    lambda w, role: (f"/desks/{w.ids['desk']}/stock/count", {"json": {"item_id": w.ids["item"],
                                                                      "counted": 100000, "reason": "盘点"}}),
    (200, 200, 404, 200, 403, 403, 403, 401))
# question for the desks owner: any volunteer reads a desk's stock book (with operators' usernames)
fixed("GET", "/desks/{desk_id}/stock/movements", (200, 200, 404, 200, 200, 200, 200, 401),
      lambda w: f"/desks/{w.ids['desk']}/stock/movements")
TABLE[("POST", "/desks/{desk_id}/find-volunteer")] = (
    lambda w, role: (f"/desks/{w.ids['desk']}/find-volunteer", {"json": {"number": w.ids["V_number"]}}),
    (200, 200, 404, 200, 403, 403, 403, 401))
fixed("GET", "/me/desk-qr-token", (403, 403, 403, 403, 403, 200, 200, 401), "/me/desk-qr-token")
TABLE[("POST", "/desks/{desk_id}/redemptions")] = (
    lambda w, role: (f"/desks/{w.ids['desk']}/redemptions", {"json": {
        "volunteer_id": _v(w), "items": [{"item_id": w.ids["item"], "quantity": 1, "price": 1}]}}),
    (201, 201, 404, 201, 403, 403, 403, 401))
# auditors are kept out of desk receipts and reconciliations (the desk module's choice)
fixed("GET", "/desks/{desk_id}/redemptions", (200, 200, 404, 200, 403, 403, 403, 401),
      lambda w: f"/desks/{w.ids['desk']}/redemptions")
fixed("GET", "/desks/{desk_id}/redemptions/{number}", (200, 200, 404, 200, 403, 403, 403, 401),
      lambda w: f"/desks/{w.ids['desk']}/redemptions/{w.ids['receipt']}")


@row("POST", "/desks/{desk_id}/redemptions/{number}/cancel", 200, 200, 404, 200, 403, 403, 403, 401)
def _(w, role):
    return f"/desks/{w.ids['desk']}/redemptions/{w.receipt()}/cancel", {"json": {"reason": "顾客退回"}}


TABLE[("POST", "/desks/{desk_id}/reservations")] = (
    lambda w, role: (f"/desks/{w.ids['desk']}/reservations", {"json": {
        "volunteer_id": _v(w), "items": [{"item_id": w.ids["item"], "quantity": 1, "price": 1}]}}),
    (201, 201, 404, 201, 403, 201, 404, 401))
# a volunteer lists their own reservations only (vol_other gets an empty list, checked below)
fixed("GET", "/desks/{desk_id}/reservations", (200, 200, 404, 200, 200, 200, 200, 401),
      lambda w: f"/desks/{w.ids['desk']}/reservations")


@row("POST", "/desks/{desk_id}/reservations/{reservation_id}/pickup", 200, 200, 404, 200, 403, 403, 403, 401)
def _(w, role):
    return f"/desks/{w.ids['desk']}/reservations/{w.reservation()}/pickup", {}


@row("POST", "/desks/{desk_id}/reservations/{reservation_id}/cancel", 200, 200, 404, 200, 403, 200, 404, 401)
def _(w, role):
    return f"/desks/{w.ids['desk']}/reservations/{w.reservation()}/cancel", {"json": {"reason": "不要了"}}


fixed("GET", "/desks/{desk_id}/reconciliation/{day}", (200, 200, 404, 200, 403, 403, 403, 401),
      lambda w: f"/desks/{w.ids['desk']}/reconciliation/2026-11-01?live=true")

# --- rankings and targets ------------------------------------------------------------------
fixed("GET", "/rankings/page", (200,) * 8, "/rankings/page")
fixed("GET", "/targets/page", (200,) * 8, "/targets/page")


@row("POST", "/rankings/definitions", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return "/rankings/definitions", {"json": {"code": f.ref("R"), "name": "季度之星", "unit_id": w.ids["station_a"],
                                              "period_kind": "quarter"}}


fixed("GET", "/rankings/definitions", (200, 200, 200, 403, 200, 403, 403, 401), "/rankings/definitions")
fixed("GET", "/rankings/definitions/{definition_id}", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/rankings/definitions/{w.ids['definition']}")


@row("POST", "/rankings/runs", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    w.record(posted=True)  # a new ledger position, so each allowed call makes a new run
    return "/rankings/runs", {"json": {"definition_id": w.ids["definition"], "period": "2025"}}


fixed("GET", "/rankings/runs", (200, 200, 200, 403, 200, 403, 403, 401), "/rankings/runs")
fixed("GET", "/rankings/official", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/rankings/official?definition_code={w.ids['official_code']}&period=2025")
for suffix, ok in (("", 200), ("/reproduce", 200), ("/export.xlsx", 200), ("/export.csv", 200), ("/chart.png", 200)):
    fixed("GET", "/rankings/runs/{run_id}" + suffix, (ok, ok, 404, 403, ok, 403, 403, 401),
          lambda w, suffix=suffix: f"/rankings/runs/{w.ids['run']}{suffix}")
fixed("GET", "/rankings/runs/{run_id}/entries/{subject_id}/transactions", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/rankings/runs/{w.ids['run']}/entries/{_v(w)}/transactions")


@row("POST", "/rankings/runs/{run_id}/publish", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    return f"/rankings/runs/{w.ranking_run(w.definition())}/publish", {}  # one official list per period


@row("POST", "/rankings/runs/{run_id}/supersede", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    definition = w.definition()
    first = w.ranking_run(definition)
    w.admin("POST", f"/rankings/runs/{first}/publish")
    return f"/rankings/runs/{first}/supersede", {"json": {"by_run_id": w.fresh_ranking_run(definition),
                                                          "reason": "补录"}}


# --- public notice (公示) ---------------------------------------------------------------------
def _on_notice(w: World) -> tuple[int, int, int]:
    """(definition, run, notice): a fresh run of a fresh definition, published and put on notice."""
    definition = w.definition()
    run = w.ranking_run(definition)
    w.admin("POST", f"/rankings/runs/{run}/publish")
    return definition, run, w.admin("POST", f"/rankings/runs/{run}/notice")["id"]


def _objection(w: World) -> int:
    notice = _on_notice(w)[2]
    w.admin("POST", f"/public/notices/{notice}/objections", role="anon",
            json={"contact": "15110655224", "reason": "名单有误，请核实"})
    return w.admin("GET", f"/rankings/notices/{notice}/objections")[0]["id"]


@row("POST", "/rankings/runs/{run_id}/notice", 201, 201, 404, 403, 403, 403, 403, 401)
def _(w, role):
    run = w.ranking_run(w.definition())
    w.admin("POST", f"/rankings/runs/{run}/publish")
    return f"/rankings/runs/{run}/notice", {}


fixed("GET", "/rankings/notices", (200, 200, 200, 403, 200, 403, 403, 401), "/rankings/notices")
fixed("GET", "/rankings/notices/{notice_id}/objections", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/rankings/notices/{_on_notice(w)[2]}/objections")
fixed("POST", "/rankings/objections/{objection_id}/resolve", (200, 200, 404, 403, 403, 403, 403, 401),
      lambda w: f"/rankings/objections/{_objection(w)}/resolve", json={"outcome": "dismissed", "reply": "经核实无误"})
# open for 7 days: the admin and the unit admin in scope get as far as the notice's state
fixed("POST", "/rankings/notices/{notice_id}/confirm", (409, 409, 404, 403, 403, 403, 403, 401),
      lambda w: f"/rankings/notices/{_on_notice(w)[2]}/confirm")


@row("POST", "/rankings/notices/{notice_id}/supersede", 200, 200, 404, 403, 403, 403, 403, 401)
def _(w, role):
    definition, _, notice = _on_notice(w)
    return f"/rankings/notices/{notice}/supersede", {"json": {"by_run_id": w.fresh_ranking_run(definition),
                                                              "reason": "异议成立"}}


fixed("GET", "/public/notice.css", (200,) * 8, "/public/notice.css")
fixed("GET", "/public/notices/{notice_id}", (200,) * 8, lambda w: f"/public/notices/{_on_notice(w)[2]}")
fixed("GET", "/public/notices/{notice_id}/data", (200,) * 8, lambda w: f"/public/notices/{_on_notice(w)[2]}/data")
fixed("POST", "/public/notices/{notice_id}/objections", (201,) * 8,
      lambda w: f"/public/notices/{_on_notice(w)[2]}/objections",
      json={"contact": "15110655224", "reason": "名单有误，请核实", "line": None})


@row("POST", "/public/notices/{notice_id}/objection-form", *(200,) * 8)
def _(w, role):
    return f"/public/notices/{_on_notice(w)[2]}/objection-form", {
        "data": {"token": f.ref("form"), "contact": "15110655224", "reason": "名单有误，请核实"}}


fixed("GET", "/targets", (200, 200, 404, 403, 200, 403, 403, 401), lambda w: f"/targets?unit_id={w.ids['station_a']}&period=2025")
fixed("POST", "/targets/reports", (201, 201, 404, 403, 403, 403, 403, 401), "/targets/reports")
TABLE[("POST", "/targets/reports")] = (
    lambda w, role: ("/targets/reports", {"json": {"unit_id": w.ids["station_a"], "period": "2025"}}),
    TABLE[("POST", "/targets/reports")][1])
fixed("GET", "/targets/reports", (200, 200, 404, 403, 200, 403, 403, 401),
      lambda w: f"/targets/reports?unit_id={w.ids['station_a']}")
for suffix in ("", "/export.xlsx", "/chart.png"):
    fixed("GET", "/targets/reports/{report_id}" + suffix, (200, 200, 404, 403, 200, 403, 403, 401),
          lambda w, suffix=suffix: f"/targets/reports/{w.ids['report']}{suffix}")

# --- self-service --------------------------------------------------------------------------
TABLE[("POST", "/selfservice/volunteers/{volunteer_id}/sign-in-codes")] = (
    lambda w, role: (f"/selfservice/volunteers/{_v(w)}/sign-in-codes", {"json": {"kind": "code"}}),
    (201, 201, 404, 403, 403, 403, 403, 401))


@row("POST", "/selfservice/sign-in", 200, 200, 200, 200, 200, 200, 200, 200)
def _(w, role):
    volunteer_id = w.volunteer()
    code = w.admin("POST", f"/selfservice/volunteers/{volunteer_id}/sign-in-codes", json={"kind": "code"})
    number = w.admin("GET", f"/volunteers/{volunteer_id}")["number"]
    return "/selfservice/sign-in", {"json": {"number": number, "code": code["code"]}}


for suffix in ("summary", "history", "memberships", "redemptions", "certificates"):
    fixed("GET", "/selfservice/volunteers/{volunteer_id}/" + suffix, (200, 200, 404, 200, 200, 200, 404, 401),
          lambda w, suffix=suffix: f"/selfservice/volunteers/{_v(w)}/{suffix}")
TABLE[("POST", "/selfservice/volunteers/{volunteer_id}/certificates")] = (
    lambda w, role: (f"/selfservice/volunteers/{_v(w)}/certificates",
                     {"json": {"date_from": "2025-01-01", "date_to": "2025-12-31"}}),
    (201, 201, 404, 403, 403, 201, 404, 401))
fixed("GET", "/selfservice/certificates/{number}.pdf", (200, 200, 404, 200, 200, 200, 404, 401),
      lambda w: f"/selfservice/certificates/{w.certificate['number']}.pdf")
fixed("GET", "/selfservice/verify", (200,) * 8,
      lambda w: f"/selfservice/verify?number={w.certificate['number']}&code={w.certificate['verification_code']}")
fixed("GET", "/my", (200,) * 8, "/my")
fixed("GET", "/verify", (200,) * 8, "/verify")
fixed("GET", "/health", (200,) * 8, "/health")
# the staff console rides on its session cookie, never on a bearer token: without a cookie every
# console page answers with the sign-in form (a redirect, followed here), and a form posted without
# its CSRF token is refused (tests/test_console_auth.py covers the signed-in cases)
fixed("GET", "/", (200,) * 8, "/")
fixed("POST", "/signin", (403,) * 8, "/signin", data={"username": "x", "password": "y"})
fixed("POST", "/signout", (200,) * 8, "/signout")
fixed("GET", "/account/password", (200,) * 8, "/account/password")
fixed("POST", "/account/password", (200,) * 8, "/account/password")
for _method, _path, _url in [
        ("GET", "/console/volunteers", "/console/volunteers"), ("GET", "/console/volunteers/new", None),
        ("POST", "/console/volunteers/new", None), ("GET", "/console/volunteers/{volunteer_id}", "/console/volunteers/1"),
        ("POST", "/console/volunteers/{volunteer_id}/transfer", "/console/volunteers/1/transfer"),
        ("POST", "/console/volunteers/{volunteer_id}/sign-in-code", "/console/volunteers/1/sign-in-code"),
        ("GET", "/console/roster", "/console/roster?unit_id=1"), ("GET", "/console/activities", None),
        ("POST", "/console/activities", None), ("GET", "/console/activities/{activity_id}", "/console/activities/1"),
        ("POST", "/console/activities/{activity_id}/services", "/console/activities/1/services"),
        ("GET", "/console/approvals", None), ("POST", "/console/approvals", None),
        ("POST", "/console/records/{record_id}/reverse", "/console/records/1/reverse"),
        ("GET", "/console/imports", None), ("GET", "/console/imports/template.xlsx", None),
        ("POST", "/console/imports", None), ("POST", "/console/imports/approve", "/console/imports/approve?batch=x"),
        # the work pages of policies, rankings, targets, the desk, the archive and the audit
        ("GET", "/console/policies", None), ("GET", "/console/policies/draft", None),
        ("POST", "/console/policies/publish", None), ("POST", "/console/policies/what-if", None),
        ("GET", "/console/rankings", None), ("GET", "/console/rankings/define", None),
        ("POST", "/console/rankings/define", None), ("POST", "/console/rankings/run", None),
        ("GET", "/console/rankings/runs/{run_id}", "/console/rankings/runs/1"),
        ("POST", "/console/rankings/runs/{run_id}/notice", "/console/rankings/runs/1/notice"),
        ("POST", "/console/rankings/runs/{run_id}/publish", "/console/rankings/runs/1/publish"),
        ("GET", "/console/targets", None), ("GET", "/console/targets/export.xlsx", None),
        ("GET", "/console/desk", None), ("GET", "/console/desk/items", None), ("POST", "/console/desk/items", None),
        ("POST", "/console/desk/redeem", None), ("POST", "/console/desk/cancel", None),
        ("GET", "/console/archive", None), ("GET", "/console/archive/download.{kind}", "/console/archive/download.xlsx"),
        ("GET", "/console/audit", None), ("POST", "/console/audit/verify", None)]:
    fixed(_method, _path, (200,) * 8, _url or _path)  # no cookie: the sign-in form (tests/test_console_pages.py)
# signs the caller's own token out: run last (see below), with a token made for the purpose
fixed("POST", "/selfservice/sign-out", (200, 200, 200, 200, 200, 200, 200, 401), "/selfservice/sign-out")
LAST = ("POST", "/selfservice/sign-out")
register_loop_rows(row, fixed)  # orders, sign-up, check-in, joining: tests/authz_loop_rows.py


def app_endpoints(app) -> set[tuple[str, str]]:
    return {(method, path) for path, route in iter_api_routes(app.routes)
            for method in route.methods - {"HEAD"}}


def test_every_endpoint_is_in_the_table(client):
    missing = sorted(app_endpoints(client.app) - set(TABLE))
    stale = sorted(set(TABLE) - app_endpoints(client.app))
    assert not missing, f"endpoints without a row in TABLE (write down who may call them): {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


def test_every_endpoint_by_every_role(client, ctx):
    world = build_world(client, ctx)
    world.reservation()
    other = client.get(f"/desks/{world.ids['desk']}/reservations", headers=world.headers("vol_other"))
    assert other.json() == []  # V's reservations stay V's
    wrong = []
    order = sorted(TABLE, key=lambda endpoint: endpoint == LAST)
    for method, path in order:
        build, expected = TABLE[(method, path)]
        for role, status in zip(ROLES, expected):
            url, kwargs = build(world, role)
            headers = world.headers(role, write=method != "GET")
            response = client.request(method, url, headers=headers, **kwargs)
            if response.status_code != status:
                wrong.append(f"{method} {path} as {role}: expected {status}, got {response.status_code} "
                             f"{response.text[:160]}")
            if response.status_code >= 500:
                wrong.append(f"{method} {path} as {role}: server error {response.status_code}")
            if response.status_code in (401, 403, 404) and response.headers.get("content-type", "").startswith(
                    "application/json"):
                assert {"code", "message", "field"} <= set(response.json()), (method, path, role)
    assert not wrong, "\n".join(wrong)
