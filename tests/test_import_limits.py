"""One upload cannot exhaust the server (issue 15, finding 3): a row limit per file, an XLSX
refused by its expanded size before it is parsed, overlaps found by one sort with a bounded
list of problems (all counted).  Peak memory is measured by `python -m bench.imports`; these
tests assert the clear errors, never a time or a size of memory."""
from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook

from ledger.errors import ImportRejected
from ledger.service.sheets import (
    MAX_REPORTED_PROBLEMS,
    MAX_ROW_CHARS,
    MAX_ROWS,
    MAX_TEXT_CHARS,
    MAX_XLSX_SHARED_STRINGS_BYTES,
    MAX_XLSX_UNCOMPRESSED_BYTES,
)
from ledger.service.taizhang import COLUMNS, parse_taizhang
from tests import factories as f
from tests.test_imports import county, upload

TODAY = dt.date(2026, 11, 23)
HEADER = ",".join(COLUMNS)
GOOD = "1,朱敏,330322200103213154,15110655224,东风村站,广场舞教学,文化文艺,2026-05-28,19:00,20:00,1小时,杨站长"
BAD_ID = GOOD.replace("330322200103213154", "330322200103213150")  # wrong check digit: one problem a row


def rejected(data: bytes, filename: str = "台账.csv") -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        parse_taizhang(data, filename, TODAY)
    return caught.value


def csv_of(lines: list[str]) -> bytes:
    return "\n".join([HEADER, *lines]).encode("utf-8")


def numbered(line: str, count: int) -> list[str]:
    """The line `count` times, with 序号 1, 2, 3, ..."""
    return [f"{n}," + line.split(",", 1)[1] for n in range(1, count + 1)]


def test_a_file_over_the_row_limit_is_refused_with_a_clear_error():
    error = rejected(csv_of([BAD_ID] * (MAX_ROWS + 1)))
    assert error.field == "文件" and f"台账超过 {MAX_ROWS} 行" in error.message and "拆分" in error.message
    assert error.details["rows"] == [{"row": 0, "field": "文件", "reason": error.message}]


def test_a_file_at_the_row_limit_is_read():
    error = rejected(csv_of(numbered(BAD_ID, MAX_ROWS)))  # read, then every row refused for its ID number
    assert error.details["problems_total"] == MAX_ROWS and error.details["bad_rows"] == MAX_ROWS
    assert len(error.details["rows"]) == MAX_REPORTED_PROBLEMS


def test_identical_rows_are_found_overlapping_by_one_sort_and_the_list_is_bounded():
    error = rejected(csv_of(numbered(GOOD, 600)))
    # the sweep names each row starting before the person's latest end once, and row 1 once
    assert error.details["problems_total"] == 600 and error.details["bad_rows"] == 600
    shown = error.details["rows"]
    assert len(shown) == MAX_REPORTED_PROBLEMS
    assert [p["row"] for p in shown[:3]] == [1, 2, 3] and all(p["field"] == "开始时间" for p in shown)
    assert "共 600 处错误，仅列出前 200 处" in error.message


def test_an_xlsx_that_expands_past_the_limit_is_refused_before_it_is_parsed():
    book = Workbook()
    book.active.append(list(COLUMNS))
    book.active.append(GOOD.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/padding.bin", "w") as padding:
            for _ in range(MAX_XLSX_UNCOMPRESSED_BYTES // (1024 * 1024) + 1):
                padding.write(bytes(1024 * 1024))
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024  # small on the wire
    error = rejected(data, "台账.xlsx")
    assert error.field == "文件" and "Excel 文件解压后超过" in error.message
    assert error.details["expanded"] > MAX_XLSX_UNCOMPRESSED_BYTES


def test_an_xlsx_over_the_row_limit_is_refused():
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(COLUMNS))
    cells = BAD_ID.split(",")
    for _ in range(MAX_ROWS + 1):
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    error = rejected(buffer.getvalue(), "台账.xlsx")
    assert f"台账超过 {MAX_ROWS} 行" in error.message


def test_a_csv_line_or_row_past_the_row_limit_is_refused_before_it_is_split_into_fields():
    one_line = HEADER.encode() + b"\n" + b"1," * (MAX_ROW_CHARS // 2 + 1) + b"\n"
    error = rejected(one_line)
    assert error.field == "文件" and "第 2 行过长" in error.message
    quoted_lines = HEADER.encode() + b"\n" + b'"x\n",' * (MAX_ROW_CHARS // 3) + b"\n"  # one row, many lines
    error = rejected(quoted_lines)
    assert "行过长" in error.message


def test_a_sheet_with_too_much_text_is_refused():
    wide = numbered(GOOD.replace("杨站长", "长" * 1000), MAX_TEXT_CHARS // 1000 + 1)
    error = rejected(csv_of(wide))
    assert error.field == "文件" and "台账内容过多" in error.message


def test_an_xlsx_whose_shared_strings_expand_past_their_limit_is_refused():
    book = Workbook()
    book.active.append(list(COLUMNS))
    buffer = io.BytesIO()
    book.save(buffer)
    strings = "".join(f"<si><t>{n:016d}</t></si>" for n in range(MAX_XLSX_SHARED_STRINGS_BYTES // 30 + 1))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:  # openpyxl holds them all
        archive.writestr("xl/sharedStrings.xml", f"<sst>{strings}</sst>")
    error = rejected(buffer.getvalue(), "台账.xlsx")
    assert error.field == "文件" and "文字表解压后超过" in error.message


def test_a_csv_in_no_known_encoding_is_a_clear_error_not_a_crash():
    error = rejected(HEADER.encode() + b"\n\xff\xfe\xff,1\n")  # neither UTF-8 nor GB18030
    assert error.field == "文件" and "无法识别文件编码" in error.message


def test_over_http_the_row_limit_and_the_bounded_list_of_database_problems(client, ctx):
    units = county(ctx)
    too_many = upload(client, units["importer"], csv_of([BAD_ID] * (MAX_ROWS + 1)))
    assert too_many.status_code == 422
    assert too_many.json()["field"] == "文件" and f"台账超过 {MAX_ROWS} 行" in too_many.json()["message"]
    # 250 good rows of different people at a station nobody has: every row refused, 200 listed
    lines = [line.replace("330322200103213154", f.random_id_number()).replace("东风村站", "无此站")
             for line in numbered(GOOD, 250)]
    unknown = upload(client, units["importer"], csv_of(lines))
    assert unknown.status_code == 422, unknown.text
    details = unknown.json()["details"]
    assert details["problems_total"] == 250 and len(details["rows"]) == MAX_REPORTED_PROBLEMS
    assert [p["row"] for p in details["rows"][:2]] == [1, 2] and details["rows"][0]["field"] == "所属站点"
