"""Issue 15, finding 11 (and issue 18, item 9): inputs that answered 500 or were stored as
they came are refused with a clear 422 naming the field, in Chinese — periods out of range,
service dates off their activity's day or before registration, absurd stock and prices, names
with control, zero-width or bidi characters — and FastAPI's own errors keep the
`{"code", "message", "field"}` shape."""
from __future__ import annotations

import datetime as dt
import unicodedata
import uuid

import pytest

from ledger.errors import ValidationFailed
from ledger.incentives import policies
from ledger.incentives.pricing import default_policy_text
from ledger.names import clean_name
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.rankings import definitions, runs as rankings
from ledger.redemption import desks
from ledger.service import activities, bulk, taizhang
from tests import factories as f

HIDING = ["张\x00三", "张\u202e三", "张\u200b三", "张\u2066三", "\ufeff张三", "张\t三", "张\n三", "张\u2028三"]


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


def is_chinese(message: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in message)


# --- periods ---------------------------------------------------------------------------------

@pytest.mark.parametrize("period", ["9999-Q4", "0000-Q1", "9999-12", "9999", "0000"])
def test_targets_for_a_period_out_of_range_is_422_naming_the_period(client, ctx, period):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    answer = client.get(f"/targets?unit_id={units['center']}&period={period}", headers=h(admin))
    assert answer.status_code == 422 and answer.json()["field"] == "period" and is_chinese(answer.json()["message"])


def test_a_ranking_run_for_9999_12_is_422_naming_the_period(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    with ctx.uow() as uow:
        definition = rankings.define_ranking(uow.session, SYSTEM, {
            "code": f.ref("month"), "name": "月度之星", "unit_id": units["center"], "period_kind": "month"})
        uow.commit()
    for period in ("9999-12", "0000-01"):
        answer = client.post("/rankings/runs", json={"definition_id": definition["id"], "period": period},
                             headers=h(admin))
        assert answer.status_code == 422 and answer.json()["field"] == "period", answer.text


def test_period_bounds_keep_ordinary_periods():
    assert definitions.period_bounds("quarter", "2998-Q4") == (dt.date(2998, 10, 1), dt.date(2998, 12, 31))
    with pytest.raises(ValidationFailed):
        definitions.period_bounds("month", "9999-12")


# --- service dates ---------------------------------------------------------------------------

def test_a_service_record_lies_on_its_activitys_day_after_registration_and_not_in_the_future(client, ctx):
    units = f.tree(ctx)
    _, recorder = f.user(ctx, "unit_admin", units["station_a"])
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2026, 3, 1))
    held = f.activity(ctx, units["station_a"], dt.date(2026, 3, 10))
    early = f.activity(ctx, units["station_a"], dt.date(2026, 2, 20))
    future = f.activity(ctx, units["station_a"], ctx.today() + dt.timedelta(days=3))

    def post(activity_id: int, start: str, end: str):
        return client.post("/service-records", json={"volunteer_id": volunteer, "activity_id": activity_id,
                                                     "started_at": start, "ended_at": end}, headers=h(recorder))

    ancient = post(held, "0001-01-01T09:00:00", "0001-01-01T10:00:00")
    assert ancient.status_code == 422 and ancient.json()["field"] == "started_at"
    assert "活动当天" in ancient.json()["message"]
    other_day = post(held, "2026-03-11T09:00:00", "2026-03-11T10:00:00")
    assert other_day.status_code == 422 and other_day.json()["field"] == "started_at"
    before_registration = post(early, "2026-02-20T09:00:00", "2026-02-20T10:00:00")
    assert before_registration.status_code == 422 and before_registration.json()["field"] == "started_at"
    assert "注册日期" in before_registration.json()["message"]
    day = (ctx.today() + dt.timedelta(days=3)).isoformat()
    ahead = post(future, f"{day}T09:00:00", f"{day}T10:00:00")
    assert ahead.status_code == 422 and ahead.json()["field"] == "ended_at"
    # on the day, running past midnight, is fine
    assert post(held, "2026-03-10T22:00:00", "2026-03-11T01:00:00").status_code == 201


def test_the_bulk_path_refuses_the_same_dates_naming_the_row(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2026, 3, 1))
    held = f.activity(ctx, units["station_a"], dt.date(2026, 3, 10))
    early = f.activity(ctx, units["station_a"], dt.date(2026, 2, 20))
    good = bulk.ApprovedService(volunteer, held, dt.datetime(2026, 3, 10, 9), dt.datetime(2026, 3, 10, 10),
                                recorder.user_id)
    for bad in (bulk.ApprovedService(volunteer, held, dt.datetime(2026, 3, 12, 9), dt.datetime(2026, 3, 12, 10),
                                     recorder.user_id),
                bulk.ApprovedService(volunteer, early, dt.datetime(2026, 2, 20, 9), dt.datetime(2026, 2, 20, 10),
                                     recorder.user_id)):
        with ctx.uow() as uow, pytest.raises(ValidationFailed) as refused:
            bulk.post_approved(uow.session, approver, [good, bad], ctx.local_now())
        assert refused.value.field == "started_at" and refused.value.details["row"] == 1


# --- stock and prices ------------------------------------------------------------------------

def test_absurd_prices_and_quantities_are_refused_naming_the_field(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    desk = client.post("/desks", json={"unit_id": units["station_a"], "code": f.ref("D"), "name": "爱心超市"},
                       headers=h(admin)).json()
    huge = client.post(f"/desks/{desk['id']}/items", json={"name": "大米", "price_points": 2**62}, headers=h(admin))
    assert huge.status_code == 422 and huge.json()["field"] == "price_points" and is_chinese(huge.json()["message"])
    item = client.post(f"/desks/{desk['id']}/items", json={"name": "大米", "price_points": 50}, headers=h(admin))
    assert item.status_code == 201, item.text
    item_id = item.json()["id"]
    price = client.post(f"/desks/{desk['id']}/items/{item_id}/price", json={"price_points": 2**62}, headers=h(admin))
    assert price.status_code == 422 and price.json()["field"] == "price_points"
    receive = client.post(f"/desks/{desk['id']}/stock/receive", json={"item_id": item_id, "quantity": 2**62},
                          headers=h(admin))
    assert receive.status_code == 422 and receive.json()["field"] == "quantity"
    count = client.post(f"/desks/{desk['id']}/stock/count", json={"item_id": item_id, "counted": 2**62,
                                                                  "reason": "盘点"}, headers=h(admin))
    assert count.status_code == 422 and count.json()["field"] == "counted"
    fine = client.post(f"/desks/{desk['id']}/stock/receive", json={"item_id": item_id, "quantity": 100},
                       headers=h(admin))
    assert fine.status_code == 201 and fine.json()["stock_after"] == 100


# --- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HIDING)
def test_a_name_hiding_characters_is_refused_over_http_on_both_engines(client, ctx, name):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    answer = client.post("/volunteers", json={"name": name, "home_unit_id": units["station_a"],
                                              "id_number": f.random_id_number()}, headers=h(admin))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "name" and "请删除后重试" in answer.json()["message"]


def test_every_entry_of_a_name_goes_through_the_one_rule(ctx):
    units = f.tree(ctx)
    bad = "东风\u202e站"
    entries = {
        "unit": lambda s: org.create_unit(s, SYSTEM, org.CreateUnit(f.ref("S"), bad, "station", units["institute"])),
        "team": lambda s: org.create_team(s, SYSTEM, org.CreateTeam(f.ref("T"), bad, units["station_a"], "文化文艺")),
        "activity": lambda s: activities.create_activity(s, SYSTEM, activities.CreateActivity(
            units["station_a"], bad, "文化文艺", dt.date(2026, 3, 10)), None),
        "desk": lambda s: desks.create_desk(s, SYSTEM, desks.CreateDesk(units["station_a"], f.ref("D"), bad)),
        "definition": lambda s: rankings.define_ranking(s, SYSTEM, {
            "code": f.ref("y"), "name": bad, "unit_id": units["center"], "period_kind": "year"}),
        "policy": lambda s: policies.publish_policy(s, SYSTEM, policies.PublishPolicy(
            units["station_b"], dt.date(2026, 1, 1),
            default_policy_text().replace("嘉许激励办法（默认）", "嘉许\u202e激励办法", 1))),
    }
    for entry, make in entries.items():
        with ctx.uow() as uow, pytest.raises(ValidationFailed) as refused:
            make(uow.session)
        assert refused.value.field in ("name", "title", "policy.name") and "U+202E" in refused.value.message, entry
    with ctx.uow() as uow:
        desk = desks.create_desk(uow.session, SYSTEM, desks.CreateDesk(units["station_a"], f.ref("D"), "超市"))
        with pytest.raises(ValidationFailed) as refused:
            desks.add_item(uow.session, SYSTEM, desk.id, desks.AddItem(name="米\x00", price_points=5))
        assert refused.value.field == "name"


def test_names_are_stored_in_nfc(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    decomposed = "Zoe\u0301 李"  # e + combining acute
    answer = client.post("/volunteers", json={"name": decomposed, "home_unit_id": units["station_a"],
                                              "id_number": f.random_id_number()}, headers=h(admin))
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == unicodedata.normalize("NFC", decomposed) == "Zoé 李"
    assert clean_name("  王五 ", "name") == "王五"


def test_a_ledger_row_with_a_hidden_character_in_a_name_is_named():
    header = ",".join(taizhang.COLUMNS)
    row = "1,朱\u200b敏,330322200103213154,,东风村站,广场舞教学,文化文艺,2026-05-28,19:00,20:00,1小时,杨站长"
    with pytest.raises(Exception) as refused:
        taizhang.parse_taizhang(f"{header}\n{row}".encode(), "x.csv", dt.date(2026, 11, 23))
    assert [(p["row"], p["field"]) for p in refused.value.details["rows"]] == [(1, "姓名")]


# --- FastAPI's own errors --------------------------------------------------------------------

def test_malformed_bodies_and_unknown_paths_answer_code_message_field_in_chinese(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    cases = [
        (b'{"unit_id": 4,', "body", "JSON"),
        (b"null", "body", ""),
        (b'{"unit_id": "x", "title": "t", "category": "c", "held_on": "2026-03-10"}', "unit_id", ""),
        (b'{"unit_id": 1, "title": "t", "category": "c", "held_on": "2026-13-40"}', "held_on", ""),
        (b'{"unit_id": 1, "title": "t", "category": "c"}', "held_on", ""),
    ]
    for body, field, words in cases:
        answer = client.post("/activities", content=body, headers={**h(admin), "Content-Type": "application/json"})
        assert answer.status_code == 422
        assert set(answer.json()) >= {"code", "message", "field"} and answer.json()["field"] == field
        assert words in answer.json()["message"] and is_chinese(answer.json()["message"]), answer.text
    for answer in (client.get("/no-such-page", headers=h(admin)), client.delete("/activities", headers=h(admin))):
        assert set(answer.json()) == {"code", "message", "field"} and is_chinese(answer.json()["message"])
    assert units
