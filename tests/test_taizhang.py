"""Station ledgers (台账): the sample files, encodings, XLSX, and every kind of bad row."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from ledger.errors import ImportRejected
from ledger.service.taizhang import (
    COLUMNS,
    TaizhangRow,
    canonical_column,
    parse_clock_time,
    parse_duration_minutes,
    parse_service_date,
    parse_taizhang,
)

DATA = Path("/work/shared/data")
TODAY = date(2026, 11, 23)
HEADER = ",".join(COLUMNS)
GOOD = "1,朱敏,330322200103213154,15110655224,东风村站,广场舞教学,文化文艺,2026-05-28,19:00,20:00,1小时,杨站长"


def parse_csv(text: str, today: date = TODAY) -> list[TaizhangRow]:
    return parse_taizhang(text.encode("utf-8"), "ledger.csv", today=today)


def rejected(text: str, today: date = TODAY) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        parse_csv(text, today)
    return caught.value


def problems_of(text: str) -> list[tuple[int, str]]:
    return [(p["row"], p["field"]) for p in rejected(text).details["rows"]]


def line(**changes: str) -> str:
    cells = dict(zip(COLUMNS, GOOD.split(",")))
    cells.update(changes)
    return ",".join(cells[c] for c in COLUMNS)


# --- the shared sample files --------------------------------------------------------------

def test_sample_ledger_parses_into_forty_rows():
    rows = parse_taizhang((DATA / "taizhang-sample.csv").read_bytes(), "taizhang-sample.csv", TODAY)
    assert len(rows) == 40
    assert [r.row_number for r in rows] == list(range(1, 41))
    first, third, sixth = rows[0], rows[2], rows[5]
    # Row 1: 2026年5月28日 19:00-20:00, "1小时".
    assert first.name == "朱敏" and first.id_number == "330322200103213154"
    assert first.phone == "15110655224" and first.station_name == "东风村新时代文明实践站"
    assert first.activity_title == "广场舞教学" and first.category == "文化文艺"
    assert first.service_date == date(2026, 5, 28)
    assert first.started_at == datetime(2026, 5, 28, 19, 0)
    assert first.ended_at == datetime(2026, 5, 28, 20, 0)
    assert first.minutes == 60 and first.confirmed_by == "杨站长"
    # Row 3: 2026/6/29 19:00-21:30, "2.5".
    assert (third.service_date, third.minutes) == (date(2026, 6, 29), 150)
    # Row 6: the ID number ends in X.
    assert sixth.id_number == "36030219530513088X"


def test_ledger_with_errors_names_exactly_its_five_bad_rows():
    # Read by hand from taizhang-with-errors.csv:
    #   row 2  服务日期 2026年13月40日 does not exist
    #   row 11 身份证号 330322195508303950: the check digit should be 5, not 0
    #   row 26 结束时间 18:00 -> 14:00, end before start
    #   row 27 服务时长 "二十五小时" is not a number
    #   row 30 姓名 is empty
    data = (DATA / "taizhang-with-errors.csv").read_bytes()
    with pytest.raises(ImportRejected) as caught:
        parse_taizhang(data, "taizhang-with-errors.csv", TODAY)
    error = caught.value
    found = [(p["row"], p["field"]) for p in error.details["rows"]]
    assert found == [(2, "服务日期"), (11, "身份证号"), (26, "结束时间"), (27, "服务时长"), (30, "姓名")]
    reasons = {p["row"]: p["reason"] for p in error.details["rows"]}
    assert "日期不存在" in reasons[2]
    assert reasons[11].startswith("身份证号校验位错误 (check digit does not match)")
    assert "结束时间早于或等于开始时间" in reasons[26]
    assert "服务时长不是数字" in reasons[27]
    assert "必填项为空" in reasons[30]
    assert "330322195508303950" not in str(error.as_dict())  # raw ID never in the error
    assert "330***********3950" in reasons[11]
    assert error.code == "import_rejected" and error.status == 422


# --- encodings and file formats -----------------------------------------------------------

def test_gb18030_csv_parses_like_utf8():
    text = (DATA / "taizhang-sample.csv").read_text(encoding="utf-8-sig")
    from_gb = parse_taizhang(text.encode("gb18030"), "gb.csv", TODAY)
    from_utf8 = parse_taizhang(text.encode("utf-8"), "plain.csv", TODAY)  # no BOM
    assert from_gb == from_utf8 and len(from_gb) == 40


def test_xlsx_round_trip_with_excel_cells(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    sheet.append([1, "朱敏", "330322200103213154", 15110655224, "东风村站", "广场舞教学", "文化文艺",
                  datetime(2026, 5, 28), time(19, 0), time(20, 30), 1.5, "杨站长"])
    sheet.append([2, "林艳", "330322196911010479", "0571-87654321", "南岭村站", "义诊", None,
                  "2026年6月1日", "8:00", "10:00", "120分钟", None])
    sheet.append([None] * len(COLUMNS))  # a blank trailing row Excel leaves behind
    path = tmp_path / "台账.xlsx"
    book.save(path)

    rows = parse_taizhang(path.read_bytes(), path.name, TODAY)

    assert len(rows) == 2
    assert rows[0].phone == "15110655224"
    assert (rows[0].started_at, rows[0].ended_at) == (datetime(2026, 5, 28, 19), datetime(2026, 5, 28, 20, 30))
    assert rows[0].minutes == 90
    assert rows[1].phone == "0571-87654321" and rows[1].category is None and rows[1].confirmed_by is None
    assert rows[1].service_date == date(2026, 6, 1) and rows[1].minutes == 120


def test_xlsx_id_number_stored_as_a_number_is_explained(tmp_path):
    book = Workbook()
    book.active.append(list(COLUMNS))
    book.active.append([1, "朱敏", 330322200103213154, None, "站", "活动", None,
                        "2026-05-28", "19:00", "20:00", 1, None])
    path = tmp_path / "t.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as caught:
        parse_taizhang(path.read_bytes(), path.name, TODAY)
    [problem] = caught.value.details["rows"]
    assert problem["field"] == "身份证号" and "设为文本" in problem["reason"]


def test_headers_with_whitespace_and_aliases():
    header = "序号, 姓名 ,身份证号码,手机号,站点,活动名称,服务类别,服务日期,开始时间,结束时间,服务时长（小时）,审核人"
    [row] = parse_csv(header + "\n" + GOOD)
    assert row.phone == "15110655224" and row.minutes == 60 and row.confirmed_by == "杨站长"
    assert canonical_column("服务时长(小时)") == "服务时长"
    assert canonical_column("电话") == "联系电话"
    assert canonical_column("备注") is None


def test_without_serial_numbers_the_sheet_line_is_the_row():
    text = HEADER + "\n" + line(序号="") + "\n" + line(序号="", 姓名="")
    assert problems_of(text) == [(3, "姓名")]


# --- whole-file problems ------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"  \n\n", HEADER.encode() + b"\n,,,,\n"])
def test_empty_file_is_rejected(data):
    with pytest.raises(ImportRejected) as caught:
        parse_taizhang(data, "empty.csv", TODAY)
    assert "文件为空" in caught.value.message


def test_missing_required_column_names_that_column():
    header = HEADER.replace("服务日期", "备注")
    error = rejected(header + "\n" + GOOD)
    assert error.field == "服务日期"
    assert error.details["rows"] == [
        {"row": 1, "field": "服务日期", "reason": "缺少必填列 (required column is missing)"}]


# --- row problems -------------------------------------------------------------------------

@pytest.mark.parametrize("column", ["姓名", "身份证号", "服务日期", "开始时间", "结束时间", "活动名称", "所属站点"])
def test_each_required_value(column):
    assert problems_of(HEADER + "\n" + line(**{column: ""})) == [(1, column)]


def test_optional_values_may_be_blank():
    [row] = parse_csv(HEADER + "\n" + line(联系电话="", 服务类别="", 服务时长="", 确认人=""))
    assert row.phone is None and row.minutes == 60


def test_duration_disagreeing_with_the_span_states_both_figures():
    error = rejected(HEADER + "\n" + line(开始时间="09:00", 结束时间="11:00", 服务时长="2.5小时"))
    [problem] = error.details["rows"]
    assert problem["field"] == "服务时长"
    assert "填写 2.5 小时" in problem["reason"] and "起止时间为 2 小时" in problem["reason"]
    assert "150 min" in problem["reason"] and "120 min" in problem["reason"]


def test_duration_written_to_two_places_agrees_with_an_uneven_span():
    [row] = parse_csv(HEADER + "\n" + line(开始时间="09:00", 结束时间="10:20", 服务时长="1.33"))
    assert row.minutes == 80
    assert problems_of(HEADER + "\n" + line(开始时间="09:00", 结束时间="10:20", 服务时长="1.3")) == [(1, "服务时长")]


def test_service_longer_than_24_hours():
    error = rejected(HEADER + "\n" + line(服务时长="25小时"))
    [problem] = error.details["rows"]
    assert problem["field"] == "服务时长" and "超过24小时" in problem["reason"]


def test_future_date_relative_to_today():
    text = HEADER + "\n" + line(服务日期="2026-11-24")
    assert problems_of(text) == [(1, "服务日期")]
    assert len(parse_csv(text, today=date(2026, 11, 24))) == 1


def test_end_equal_to_start_is_refused():
    assert problems_of(HEADER + "\n" + line(结束时间="19:00", 服务时长="")) == [(1, "结束时间")]


def test_one_row_with_several_problems_reports_each():
    bad = line(姓名="", 身份证号="330322200103213155", 联系电话="12345", 服务日期="2026/2/30", 服务时长="abc")
    assert problems_of(HEADER + "\n" + bad) == [
        (1, "姓名"), (1, "身份证号"), (1, "联系电话"), (1, "服务日期"), (1, "服务时长")]


def test_overlapping_rows_of_one_person_are_both_named():
    text = "\n".join([HEADER,
                      line(序号="1", 开始时间="19:00", 结束时间="20:00"),
                      line(序号="2", 开始时间="19:30", 结束时间="20:30"),
                      line(序号="3", 开始时间="20:30", 结束时间="21:00", 服务时长="0.5")])
    error = rejected(text)
    assert [(p["row"], p["field"]) for p in error.details["rows"]] == [(1, "开始时间"), (2, "开始时间")]
    assert "与第 2 行" in error.details["rows"][0]["reason"]
    assert "与第 1 行" in error.details["rows"][1]["reason"]


def test_same_times_for_different_people_and_touching_times_are_fine():
    other = "林艳,330322196911010479"
    text = "\n".join([HEADER, line(序号="1"),
                      line(序号="2").replace("朱敏,330322200103213154", other),
                      line(序号="3", 开始时间="20:00", 结束时间="21:00")])
    assert len(parse_csv(text)) == 3


def test_row_repr_hides_the_raw_id_and_phone():
    [row] = parse_csv(HEADER + "\n" + GOOD)
    assert "330322200103213154" not in repr(row) and "15110655224" not in repr(row)
    assert row.id_number_masked == "330***********3154"


# --- cell parsers -------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2026-03-05", "2026/3/5", "2026年3月5日", "2026/03/05 0:00", "20260305",
                                   datetime(2026, 3, 5), date(2026, 3, 5)])
def test_date_formats(value):
    assert parse_service_date(value) == date(2026, 3, 5)


@pytest.mark.parametrize("value, expected", [
    ("09:05", time(9, 5)), ("9:05", time(9, 5)), ("09:05:00", time(9, 5)), ("９：０５", time(9, 5)),
    (time(9, 5), time(9, 5)), (datetime(1899, 12, 30, 9, 5), time(9, 5)), (0.375, time(9, 0)),
])
def test_time_formats(value, expected):
    assert parse_clock_time(value) == expected


@pytest.mark.parametrize("value, minutes", [
    ("2.5", 150), ("2.5小时", 150), ("2.5h", 150), ("2.5 H", 150), ("150分钟", 150), ("90min", 90),
    ("1", 60), (2.5, 150), (2, 120),
])
def test_duration_formats(value, minutes):
    assert parse_duration_minutes(value) == Decimal(minutes)


@pytest.mark.parametrize("value", ["二十五小时", "2.5.1", "abc", "2,5"])
def test_durations_that_are_not_numbers(value):
    with pytest.raises(ValueError, match="服务时长不是数字"):
        parse_duration_minutes(value)
