"""Bulk import of station ledgers (台账) over HTTP: upload → pending batch → a second person
approves → posted.  All or nothing: a bad file names every bad row and changes nothing."""
from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select

from ledger.book.postings import ledger_position
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.people.tables import Volunteer
from ledger.service.tables import Activity, ServiceRecord
from ledger.store.usecase import read
from tests import factories as f

DATA = Path("/work/shared/data")
SAMPLE = DATA / "taizhang-sample.csv"
WITH_ERRORS = DATA / "taizhang-with-errors.csv"
if not SAMPLE.exists():  # a clone without the shared folder: the demo copy is the same file
    SAMPLE = Path(__file__).resolve().parents[1] / "ledger" / "demo_taizhang.csv"
HEADER = ["序号", "姓名", "身份证号", "联系电话", "所属站点", "活动名称", "服务类别", "服务日期",
          "开始时间", "结束时间", "服务时长", "确认人"]


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def county(ctx) -> dict:
    """The factory tree plus 西湖社区 station, so every station of the sample file exists."""
    units = f.tree(ctx)
    with ctx.uow() as uow:
        xihu = org.create_unit(uow.session, SYSTEM, org.CreateUnit(f.ref("S"), "西湖社区新时代文明实践站",
                                                                   "station", units["institute"]))
        uow.commit()
    units["station_c"] = xihu["id"]
    _, units["importer"] = f.user(ctx, "unit_admin", units["center"])
    _, units["approver"] = f.user(ctx, "unit_admin", units["institute"])
    return units


def with_fresh_ids(path: Path) -> tuple[bytes, list[str], list[str]]:
    """The file with every 身份证号 replaced by a new made-up one, so the
    file imports into a shared database more than once; returns (bytes, ids, phones)."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    column = rows[0].index("身份证号")
    mapping: dict[str, str] = {}
    for row in rows[1:]:
        old = row[column]
        if len(old) == 18:
            mapping.setdefault(old, _keep_check_digit_validity(old))
            row[column] = mapping[old]
    phones = sorted({row[rows[0].index("联系电话")] for row in rows[1:]})
    return _csv(rows), sorted(set(mapping.values())), phones


def _keep_check_digit_validity(old: str) -> str:
    """A new random ID; valid when the old one was, invalid when not."""
    from ledger.people.idcard import id_check_digit

    new = f.random_id_number()
    if id_check_digit(old[:17]) != old[17]:  # keep the file's deliberate check-digit error
        new = new[:17] + ("0" if new[17] != "0" else "1")
    return new


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def snapshot(ctx) -> tuple:
    """What an import could change: ledger position, records, volunteers, activities."""
    def run(s):
        return (ledger_position(s), s.execute(select(func.count()).select_from(ServiceRecord)).scalar_one(),
                s.execute(select(func.count()).select_from(Volunteer)).scalar_one(),
                s.execute(select(func.count()).select_from(Activity)).scalar_one())
    return read(ctx, run)


def upload(client, token: str, data: bytes, name: str = "台账.csv", key: str | None = None):
    return client.post("/imports", files={"file": (name, data, "application/octet-stream")},
                       headers=h(token, key or str(uuid.uuid4())))


def test_the_sample_file_imports_40_pending_records_and_a_second_person_posts_them(client, ctx):
    units = county(ctx)
    data, _, _ = with_fresh_ids(SAMPLE)
    key = str(uuid.uuid4())
    before = snapshot(ctx)
    created = upload(client, units["importer"], data, key=key)
    assert created.status_code == 201, created.text
    body = created.json()
    # 40 rows, 10 people, 40 distinct (station, activity, date) triples
    assert (body["records"], body["volunteers_created"], body["activities_created"], body["status"]) == \
        (40, 10, 40, "pending")
    assert snapshot(ctx)[0] == before[0]  # pending records post nothing
    again = upload(client, units["importer"], data, key=key)
    assert again.json() == body and again.headers.get("Idempotent-Replayed") == "true"

    batch = body["batch"]
    own = client.post(f"/imports/{batch}/approve", headers=h(units["importer"], str(uuid.uuid4())))
    assert own.status_code == 403 and own.json()["field"] == "approved_by"
    approved = client.post(f"/imports/{batch}/approve", headers=h(units["approver"], str(uuid.uuid4())))
    assert approved.status_code == 200 and approved.json() == {"batch": batch, "approved": 40}
    summary = client.get(f"/imports/{batch}", headers=h(units["approver"])).json()
    # the sample's durations add up to 5,850 minutes (97.5 hours)
    assert summary == {"batch": batch, "records": 40, "by_status": {"posted": 40}, "minutes": 5850}
    # hours are attributed to the station where they were served:
    # 东风村 12 rows = 1,680 min, 南岭村 15 rows = 1,980 min, 西湖社区 13 rows = 2,190 min
    served = {name: client.get(f"/units/{units[name]}/hours", headers=h(units["approver"])).json()
              for name in ("station_a", "station_b", "station_c")}
    assert {n: s["minutes"] for n, s in served.items()} == {"station_a": 1680, "station_b": 1980,
                                                            "station_c": 2190}
    assert all(s["reconciled"] for s in served.values())


def test_the_file_with_errors_imports_nothing_and_names_all_five_rows(client, ctx):
    units = county(ctx)
    data, _, _ = with_fresh_ids(WITH_ERRORS)
    before = snapshot(ctx)
    response = upload(client, units["importer"], data)
    assert response.status_code == 422 and response.json()["code"] == "import_rejected"
    rows = response.json()["details"]["rows"]
    assert [(r["row"], r["field"]) for r in rows] == [
        (2, "服务日期"),  # 2026年13月40日 does not exist
        (11, "身份证号"),  # wrong check digit
        (26, "结束时间"),  # 18:00 → 14:00
        (27, "服务时长"),  # 二十五小时 is not a number
        (30, "姓名"),  # missing name
    ]
    assert all(r["reason"] for r in rows)
    assert snapshot(ctx) == before


def test_an_xlsx_ledger_imports_like_a_csv(client, ctx):
    units = county(ctx)
    _, ids, _ = with_fresh_ids(SAMPLE)
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    # Excel cells: real dates and times, hours as numbers
    sheet.append([1, "周文", ids[0], "13800138000", "东风村新时代文明实践站", "广场舞教学", "文化文艺",
                  dt.date(2026, 3, 5), dt.time(19, 0), dt.time(20, 30), 1.5, "杨站长"])
    sheet.append([2, "周文", ids[0], "13800138000", "南岭村新时代文明实践站", "科普大篷车", "科学普及",
                  dt.datetime(2026, 3, 6), dt.time(9, 0), dt.time(11, 0), "2小时", "林站长"])
    buffer = io.BytesIO()
    book.save(buffer)
    created = upload(client, units["importer"], buffer.getvalue(), name="台账.xlsx")
    assert created.status_code == 201, created.text
    assert (created.json()["records"], created.json()["volunteers_created"]) == (2, 1)
    summary = client.get(f"/imports/{created.json()['batch']}", headers=h(units["approver"])).json()
    assert summary["minutes"] == 90 + 120


def test_database_problems_are_collected_for_every_row_and_nothing_is_written(client, ctx):
    units = county(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["station_a"])
    approver, _ = f.user(ctx, "unit_admin", units["institute"])
    known_id = f.random_id_number()
    known = f.volunteer(ctx, units["station_a"], name="王芳", id_number=known_id)
    act = f.activity(ctx, units["station_a"], dt.date(2026, 4, 1))
    f.served(ctx, recorder, approver, known, act, dt.datetime(2026, 4, 1, 9, 0), 120)
    new_id = f.random_id_number()
    rows = [HEADER,
            ["1", "李新", new_id, "", "东风村新时代文明实践站", "读书会", "文化文艺", "2026-04-02", "09:00", "10:00", "1", ""],
            ["2", "李新", new_id, "", "不存在村新时代文明实践站", "读书会", "文化文艺", "2026-04-03", "09:00", "10:00", "1", ""],
            ["3", "王芳", known_id, "", "东风村新时代文明实践站", "读书会", "文化文艺", "2026-04-01", "10:00", "12:00", "2", ""],
            ["4", "王小芳", known_id, "", "南岭村新时代文明实践站", "读书会", "文化文艺", "2026-04-05", "09:00", "10:00", "1", ""],
            ["5", "李新", new_id, "", "南岭村新时代文明实践站", "读书会", "文化文艺", "2026-04-06", "09:00", "10:00", "1", ""]]
    before = snapshot(ctx)
    response = upload(client, units["importer"], _csv(rows))
    assert response.status_code == 422 and response.json()["code"] == "import_rejected"
    problems = response.json()["details"]["rows"]
    assert [(p["row"], p["field"]) for p in problems] == [(2, "所属站点"), (3, "开始时间"), (4, "姓名")]
    assert "重叠" in problems[1]["reason"] or "overlaps" in problems[1]["reason"]
    assert snapshot(ctx) == before  # not even row 1's volunteer or activity


def test_id_card_and_phone_numbers_never_reach_a_response_or_a_log(client, ctx, caplog):
    units = county(ctx)
    good, good_ids, good_phones = with_fresh_ids(SAMPLE)
    bad, bad_ids, bad_phones = with_fresh_ids(WITH_ERRORS)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every SQL statement and its parameters
    responses = [upload(client, units["importer"], bad), upload(client, units["importer"], good)]
    batch = responses[1].json()["batch"]
    responses.append(client.post(f"/imports/{batch}/approve", headers=h(units["approver"], str(uuid.uuid4()))))
    responses.append(client.get(f"/volunteers?unit_id={units['station_a']}", headers=h(units["approver"])))
    assert [r.status_code for r in responses] == [422, 201, 200, 200]
    text = caplog.text + "".join(r.text for r in responses)
    assert "INSERT INTO volunteers" in caplog.text  # the SQL, with its parameters, was captured
    for secret in good_ids + bad_ids + good_phones + bad_phones:
        assert secret not in text


def test_scope_and_keys_are_checked(client, ctx):
    units = county(ctx)
    _, other_station = f.user(ctx, "unit_admin", units["station_b"])
    data, _, _ = with_fresh_ids(SAMPLE)
    # a station admin of 南岭村 cannot import rows for 东风村 or 西湖社区: every such row is named
    refused = upload(client, other_station, data)
    assert refused.status_code == 422
    assert {p["field"] for p in refused.json()["details"]["rows"]} == {"所属站点"}
    assert len(refused.json()["details"]["rows"]) == 25  # 12 东风村 + 13 西湖社区 rows
    no_key = client.post("/imports", files={"file": ("a.csv", data, "text/csv")}, headers=h(units["importer"]))
    assert no_key.status_code == 422 and no_key.json()["field"] == "Idempotency-Key"
    batch = upload(client, units["importer"], data).json()["batch"]
    outsider = client.post(f"/imports/{batch}/approve", headers=h(other_station, str(uuid.uuid4())))
    assert outsider.status_code == 404
    assert client.get(f"/imports/{batch}", headers=h(other_station)).json()["by_status"] == {"pending": 15}
    # a unit's served hours are read only inside the reader's subtree
    assert client.get(f"/units/{units['station_a']}/hours", headers=h(other_station)).status_code == 404
    assert client.get(f"/units/{units['station_b']}/hours", headers=h(other_station)).json()["minutes"] == 0
