"""The console's pages over HTTP (forms, session cookie, CSRF): 志愿者, 活动与服务记录, 台账导入.
Each form's errors stand next to their field, in Chinese; ids are checked against the scope."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api.app import create_app
from ledger.people.tables import Volunteer
from ledger.service.tables import ServiceRecord
from tests import factories as f
from tests.console_support import PASSWORD, client_sign_in, form_csrf, staff

SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "taizhang-example.csv"


class Console:
    """A signed-in browser-like client: its CSRF token and each form's key."""

    def __init__(self, ctx, username: str, address: str, password: str = PASSWORD):
        self.client = TestClient(create_app(ctx), client=(address, 50000))
        assert client_sign_in(self.client, username, password).status_code == 303
        self.csrf = form_csrf(self.client.get("/").text)

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs)


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="field-error" id="e-([\w-]+)">([^<]+)<', html))


@pytest.fixture
def world(ctx):
    units = f.tree(ctx)
    station, _ = staff(ctx, "unit_admin", units["station_a"])
    institute, _ = staff(ctx, "unit_admin", units["institute"])
    suffix = f.ref("")[-6:]
    n = int(suffix, 16) % 200
    return {"units": units, "station": Console(ctx, station.username, f"10.1.{n}.1"),
            "institute": Console(ctx, institute.username, f"10.1.{n}.2"), "station_user": station}


def test_registering_a_volunteer_shows_errors_next_to_the_fields_and_writes_once(ctx, world):
    console, unit = world["station"], world["units"]["station_a"]
    key = re.search(r'name="form_key" value="([^"]+)"', console.get("/console/volunteers/new").text)[1]
    empty = console.post("/console/volunteers/new", {"form_key": key, "name": "", "home_unit_id": str(unit)})
    assert empty.status_code == 422 and field_errors(empty.text)["name"] == "请填写姓名"
    bad_id = console.post("/console/volunteers/new", {"form_key": key, "name": "李雷", "home_unit_id": str(unit),
                                                      "id_number": "123"})
    assert bad_id.status_code == 422 and "身份证号" in field_errors(bad_id.text)["id_number"]
    other = console.post("/console/volunteers/new", {"form_key": key, "name": "李雷",
                                                     "home_unit_id": str(world["units"]["station_b"])})
    assert other.status_code == 404 and "不在您的管辖范围" in field_errors(other.text)["home_unit_id"]
    body = {"form_key": key, "name": "李雷", "home_unit_id": str(unit), "phone": "13912345678",
            "registered_on": "2026-01-05"}
    made = console.post("/console/volunteers/new", body)
    again = console.post("/console/volunteers/new", body)  # a double click
    assert made.status_code == again.status_code == 303 and made.headers["location"] == again.headers["location"]
    page = console.get(made.headers["location"])
    assert "已登记" in page.text and "李雷" in page.text and "139****5678" in page.text
    with ctx.uow() as uow:
        assert uow.session.query(Volunteer).filter_by(name="李雷", home_unit_id=unit).count() == 1


def test_search_finds_by_name_number_and_phone_digits_inside_the_scope_only(ctx, world):
    units = world["units"]
    mine = f.volunteer(ctx, units["station_a"], name="韩梅梅")
    theirs = f.volunteer(ctx, units["station_b"], name="韩梅梅")
    with ctx.uow() as uow:
        number, phone = uow.session.get(Volunteer, mine).number, uow.session.get(Volunteer, mine).phone_masked
    console = world["station"]
    for query in ("韩梅", number, phone[-4:]):
        found = console.get("/console/volunteers", params={"q": query}).text
        assert f"/console/volunteers/{mine}" in found and f"/console/volunteers/{theirs}\"" not in found
    assert console.get(f"/console/volunteers/{theirs}").status_code == 404
    assert "手机号请至少输入后四位" in console.get("/console/volunteers", params={"q": "12"}).text
    roster = console.get("/console/roster", params={"unit_id": units["station_a"]})
    assert roster.status_code == 200 and "韩梅梅" in roster.text and "志愿者花名册" in roster.text
    assert console.get("/console/roster", params={"unit_id": units["station_b"]}).status_code == 404


def test_a_sign_in_code_is_shown_once_on_a_slip_with_a_qr_code(ctx, world):
    volunteer_id = f.volunteer(ctx, world["units"]["station_a"], name="李华")
    slip = world["station"].post(f"/console/volunteers/{volunteer_id}/sign-in-code", {"kind": "code"})
    assert slip.status_code == 200
    code = re.search(r'id="slip-code">(\d{6})<', slip.text)[1]
    assert 'src="data:image/svg+xml;base64,' in slip.text and "李华" in slip.text and code
    other = f.volunteer(ctx, world["units"]["station_b"])
    assert world["station"].post(f"/console/volunteers/{other}/sign-in-code", {"kind": "code"}).status_code == 404


def test_a_volunteer_is_transferred_from_the_page(ctx, world):
    volunteer_id = f.volunteer(ctx, world["units"]["station_a"])
    moved = world["institute"].post(f"/console/volunteers/{volunteer_id}/transfer", {
        "form_key": f.ref("k"), "to_unit_id": str(world["units"]["station_b"]), "effective_on": "2026-01-10",
        "reason": "搬家"})
    assert moved.status_code == 303, moved.text
    page = world["institute"].get(moved.headers["location"]).text
    assert "已办理转移接续" in page and "南岭村新时代文明实践站（所属）" in page


def _activity(console, unit: int) -> int:
    made = console.post("/console/activities", {"form_key": f.ref("k"), "unit_id": str(unit), "title": "义诊",
                                                "category": "医疗健身", "held_on": "2025-06-01"})
    assert made.status_code == 303, made.text
    return int(made.headers["location"].rsplit("/", 1)[1])


def test_a_grid_of_services_is_all_or_nothing_then_a_second_person_approves_refuses_and_reverses(ctx, world):
    units, console, second = world["units"], world["station"], world["institute"]
    ids = [f.volunteer(ctx, units["station_a"], name=name) for name in ("甲一", "乙二", "丙三")]
    with ctx.uow() as uow:
        numbers = [uow.session.get(Volunteer, v).number for v in ids]
    activity = _activity(console, units["station_a"])
    bad = console.post(f"/console/activities/{activity}/services", {
        "form_key": f.ref("k"), "volunteer": [numbers[0], numbers[1], "V000"], "start": ["09:00", "09:00", "09:00"],
        "end": ["11:00", "08:00", "10:00"], "minutes": ["", "", ""]})
    assert bad.status_code == 422
    assert re.findall(r'row-error">([^<]*)<', bad.text)[:3] == ["", "结束时间必须晚于开始时间", "没有编号为 V000 的志愿者"]
    with ctx.uow() as uow:
        assert uow.session.query(ServiceRecord).filter_by(activity_id=activity).count() == 0
    good = console.post(f"/console/activities/{activity}/services", {
        "form_key": f.ref("k"), "volunteer": numbers, "start": ["09:00"] * 3, "end": ["11:00", "10:00", "10:30"],
        "minutes": ["", "", "80"]})
    assert good.status_code == 303 and "已录入 3 条服务记录" in console.get(good.headers["location"]).text
    queue = second.get("/console/approvals").text
    pending = [int(x) for x in re.findall(r'name="ids" value="(\d+)"', queue)]
    with ctx.uow() as uow:
        mine = sorted(r.id for r in uow.session.query(ServiceRecord).filter_by(activity_id=activity))
    assert set(mine) <= set(pending)
    own = console.post("/console/approvals", {"ids": [str(mine[0])], "action": "approve"})
    assert own.status_code == 409 and "录入人不能审核自己录入的记录" in own.text
    no_reason = second.post("/console/approvals", {"ids": [str(mine[2])], "action": "reject"})
    assert no_reason.status_code == 422 and field_errors(no_reason.text)["reason"] == "退回需要填写原因"
    assert second.post("/console/approvals", {"ids": [str(i) for i in mine[:2]], "action": "approve"}).status_code == 303
    assert second.post("/console/approvals", {"ids": [str(mine[2])], "action": "reject", "reason": "未到场"}
                       ).status_code == 303
    assert second.post(f"/console/records/{mine[0]}/reverse", {"reason": "录入错误"}).status_code == 303
    with ctx.uow() as uow:
        statuses = [uow.session.get(ServiceRecord, r).status for r in mine]
    assert statuses == ["reversed", "posted", "rejected"]


def test_the_import_template_has_chinese_headers_an_example_and_the_formats():
    from ledger.service.taizhang import COLUMNS
    from ledger.service.taizhang_template import template_xlsx

    book = load_workbook(io.BytesIO(template_xlsx()))
    sheet, notes = book["台账"], book["填写说明"]
    assert [c.value for c in sheet[1]] == list(COLUMNS)
    assert sheet["B2"].value == "王小明" and sheet.freeze_panes == "A2"
    assert any("2026年11月5日" in str(row[1].value) for row in notes.iter_rows(min_row=2))


def test_an_import_with_a_bad_row_names_it_and_imports_nothing(ctx, world):
    county, _ = staff(ctx, "admin")
    uploader = Console(ctx, county.username, "10.2.0.1")
    template = uploader.get("/console/imports/template.xlsx")
    assert template.status_code == 200 and template.content[:2] == b"PK"
    bad = SAMPLE.read_bytes().replace(b"2026-11-05", b"2026-13-45", 1)
    refused = uploader.post("/console/imports", {"form_key": f.ref("k")}, files={"file": ("t.csv", bad, "text/csv")})
    assert refused.status_code == 422
    assert re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", refused.text) == [
        ("1", "服务日期", "日期不存在: 2026-13-45")]
    no_file = uploader.post("/console/imports", {"form_key": f.ref("k")})
    assert field_errors(no_file.text)["file"].startswith("请选择要上传的台账文件")


def test_console_pages_refuse_roles_outside_their_menu(ctx, world):
    desk_user, _ = staff(ctx, "desk_operator", world["units"]["station_a"])
    desk = Console(ctx, desk_user.username, "10.3.0.1")
    for url in ("/console/volunteers", "/console/activities", "/console/approvals", "/console/imports"):
        assert desk.get(url).status_code == 403
    auditor_user, _ = staff(ctx, "auditor")
    auditor = Console(ctx, auditor_user.username, "10.3.0.2")
    assert auditor.get("/console/volunteers").status_code == 200
    assert auditor.get("/console/imports").status_code == 403
    assert auditor.post("/console/activities", {"form_key": "x", "unit_id": str(world["units"]["station_a"]),
                                                "title": "t", "category": "文化文艺", "held_on": "2025-01-01"}
                        ).status_code == 403


def test_the_demo_users_sign_in_with_their_names_and_a_batch_needs_a_second_person(fresh_ctx):
    from ledger import demo

    demo.seed_demo(fresh_ctx)
    uploader = Console(fresh_ctx, "demo-county-admin", "10.4.0.1", password="demo-county-admin")
    uploaded = uploader.post("/console/imports", {"form_key": f.ref("k")},
                             files={"file": ("taizhang.csv", SAMPLE.read_bytes(), "text/csv")})
    assert uploaded.status_code == 303, uploaded.text
    page = uploader.get(uploaded.headers["location"]).text
    assert "已导入 3 条记录" in page
    batch = re.search(r"批次 (import:[\w-]+)", page)[1]
    own = uploader.post(f"/console/imports/approve?batch={batch}")
    assert own.status_code == 403 and "录入人不能审核自己录入的记录" in own.text
    approver = Console(fresh_ctx, "demo-admin", "10.4.0.2", password="demo-admin")
    approved = approver.post(f"/console/imports/approve?batch={batch}")
    assert approved.status_code == 303 and "批次已审核入账" in approver.get(approved.headers["location"]).text
    with fresh_ctx.uow() as uow:
        assert {r.status for r in uow.session.query(ServiceRecord).filter_by(source=batch)} == {"posted"}
