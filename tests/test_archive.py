"""台账归档: a station's half-year and year as plain figures, as a workbook and as a PDF."""
from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from ledger.errors import NotFound, ValidationFailed
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.service import archive, archive_files, records as service_records
from tests import factories as f
from tests.test_rankings import person

TODAY = dt.date(2026, 1, 20)
HOSTILE = '=HYPERLINK("http://evil.example","点我")'


def build(ctx):
    """Station A in 2025: activities Mar 10 (a team's concentrated service), May 20, Aug 1.

    H1: 张三 120 min and the hostile-named volunteer 90 min on Mar 10 (posted); 张三 60 min on
    May 20, posted then reversed; 李四 30 min on May 20 still pending.  H2: 李四 45 min Aug 1.
    Station B (same institute) serves 200 min on Apr 2: in the institute's archive, not A's.
    """
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    a, b = units["station_a"], units["station_b"]
    with ctx.uow() as uow:
        team = org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), "文艺支队", a, "文化文艺", "支队"))
        uow.commit()
    march = f.activity(ctx, a, dt.date(2025, 3, 10), team_id=team["id"], is_concentrated=True, title="学雷锋日")
    may = f.activity(ctx, a, dt.date(2025, 5, 20), title="环境整治")
    august = f.activity(ctx, a, dt.date(2025, 8, 1), title="暑期托管")
    april_b = f.activity(ctx, b, dt.date(2025, 4, 2), title="南岭义诊")
    zhang, hostile = person(ctx, a, name="张三"), person(ctx, a, name=HOSTILE)
    li, wang = person(ctx, a, name="李四"), person(ctx, b, name="王五")
    f.served(ctx, recorder, approver, zhang, march, dt.datetime(2025, 3, 10, 9), 120)
    f.served(ctx, recorder, approver, hostile, march, dt.datetime(2025, 3, 10, 9), 90)
    reversed_id = f.served(ctx, recorder, approver, zhang, may, dt.datetime(2025, 5, 20, 14), 60)
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, approver, reversed_id, "重复录入", TODAY)
        service_records.record_service(uow.session, recorder, service_records.RecordService(
            volunteer_id=li, activity_id=may, started_at=dt.datetime(2025, 5, 20, 14),
            ended_at=dt.datetime(2025, 5, 20, 14, 30)), ctx.local_now())
        uow.commit()
    f.served(ctx, recorder, approver, li, august, dt.datetime(2025, 8, 1, 8), 45)
    f.served(ctx, recorder, approver, wang, april_b, dt.datetime(2025, 4, 2, 8), 200)
    return units


def make(ctx, principal, unit_id, period):
    with ctx.uow() as uow:
        return archive.station_archive(uow.session, principal, unit_id, period, TODAY)


@pytest.mark.parametrize(("period", "label", "first", "last"), [
    ("2025", "2025年度", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ("2025-H1", "2025年上半年", dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
    ("2025-h2", "2025年下半年", dt.date(2025, 7, 1), dt.date(2025, 12, 31)),
])
def test_archive_periods_are_a_year_or_a_half(period, label, first, last):
    assert archive.archive_period(period) == (label, first, last)


@pytest.mark.parametrize("period", ["2025-Q1", "25", "2025-H3", ""])
def test_other_periods_are_refused_in_chinese(period):
    with pytest.raises(ValidationFailed) as error:
        archive.archive_period(period)
    assert error.value.field == "period" and "上半年" in error.value.message


def test_the_periods_offered_are_those_begun_newest_first():
    offered = archive.archive_periods(dt.date(2026, 3, 1), years=2)
    assert [(p["code"], p["is_complete"]) for p in offered] == [
        ("2026-H1", False), ("2026", False), ("2025-H2", True), ("2025-H1", True), ("2025", True)]


def test_half_year_archive_of_a_station_gives_the_hand_counted_figures(ctx):
    units = build(ctx)
    result = make(ctx, SYSTEM, units["station_a"], "2025-H1")
    assert result["summary"] == {"activities": 2, "concentrated": 1, "services": 2, "volunteers": 2,
                                 "minutes": 210, "reversed": 1, "pending": 1}
    assert [(r["volunteer_name"], r["minutes"], r["status_name"]) for r in result["records"]] == [
        ("张三", 120, "已入账"), (HOSTILE, 90, "已入账"), ("张三", 60, "已冲正")]
    by_title = {a["title"]: a for a in result["activities"]}
    assert (by_title["学雷锋日"]["volunteers"], by_title["学雷锋日"]["minutes"], by_title["学雷锋日"]["team"]) \
        == (2, 210, "文艺支队")
    assert (by_title["环境整治"]["volunteers"], by_title["环境整治"]["minutes"]) == (0, 0)
    assert [(m["month"], m["activities"], m["services"], m["minutes"]) for m in result["months"]] == [
        ("2025-01", 0, 0, 0), ("2025-02", 0, 0, 0), ("2025-03", 1, 2, 210), ("2025-04", 0, 0, 0),
        ("2025-05", 1, 0, 0), ("2025-06", 0, 0, 0)]


def test_year_archive_of_the_institute_takes_in_both_stations(ctx):
    units = build(ctx)
    result = make(ctx, SYSTEM, units["institute"], "2025")
    assert result["summary"]["activities"] == 4
    assert result["summary"]["minutes"] == 120 + 90 + 45 + 200
    assert len(result["months"]) == 12 and result["period"]["is_complete"]


def test_a_station_admin_cannot_archive_another_station(ctx):
    units = build(ctx)
    other_admin, _ = f.user(ctx, "unit_admin", units["station_b"])
    with pytest.raises(NotFound):
        make(ctx, other_admin, units["station_a"], "2025")
    own = make(ctx, other_admin, units["station_b"], "2025")
    assert own["summary"]["minutes"] == 200


def test_a_period_not_yet_begun_is_refused(ctx):
    units = f.tree(ctx)
    with pytest.raises(ValidationFailed) as error:
        make(ctx, SYSTEM, units["station_a"], "2026-H2")
    assert "尚未开始" in error.value.message


def test_the_workbook_is_ready_to_use(ctx):
    units = build(ctx)
    data = archive_files.archive_xlsx(make(ctx, SYSTEM, units["station_a"], "2025-H1"))
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["概况", "每月统计", "活动", "服务记录"]
    records = book["服务记录"]
    assert [c.value for c in records[1]] == list(archive_files.RECORD_HEADERS)
    assert records.freeze_panes == "A2" and records.print_title_rows == "$1:$1"
    assert records.page_setup.orientation == "landscape" and records.page_setup.fitToWidth == 1
    first, hostile = [c for c in records[2]], [c for c in records[3]]
    assert first[9].value == 120 and first[9].data_type == "n"
    assert first[10].value == 2 and first[10].data_type == "n"
    assert hostile[5].value == "'" + HOSTILE and hostile[5].data_type == "s"  # never a formula
    assert first[2].value == dt.time(9, 0) or first[2].value == dt.datetime(1899, 12, 30, 9, 0)
    activities = book["活动"]
    assert [c.value for c in activities[2]][8] == "是" and [c.value for c in activities[3]][8] == "否"
    assert activities.column_dimensions["C"].width >= len("学雷锋日") * 2
    overview = {row[0]: row[1] for row in book["概况"].iter_rows(min_row=2, values_only=True)}
    assert overview["服务总时长(小时)"] == Decimal("3.5") or overview["服务总时长(小时)"] == 3.5
    assert overview["待审核记录(条，未列入)"] == 1


def test_the_pdf_is_printable_with_the_chinese_font_embedded(ctx):
    units = build(ctx)
    result = make(ctx, SYSTEM, units["station_a"], "2025-H1")
    pdf = archive_files.archive_pdf(result)
    assert pdf.startswith(b"%PDF-")
    assert b"/FontFile" in pdf
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
    assert archive_files.archive_filename(result, "pdf").endswith("_2025-H1.pdf")


def test_a_long_archive_repeats_its_pages(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    act = f.activity(ctx, units["station_a"], dt.date(2025, 2, 1))
    for number in range(40):
        volunteer = person(ctx, units["station_a"], name=f"志愿者{number}")
        f.served(ctx, recorder, approver, volunteer, act, dt.datetime(2025, 2, 1, 9), 30)
    result = make(ctx, SYSTEM, units["station_a"], "2025-H1")
    pdf = archive_files.archive_pdf(result)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2
    assert result["summary"]["services"] == 40
