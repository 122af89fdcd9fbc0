"""The one spreadsheet writer: numbers as numbers, 是/否, frozen bold headers, widths, print set-up."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
from openpyxl import load_workbook

from ledger import spreadsheet as sheets


def _open(data: bytes):
    return load_workbook(io.BytesIO(data))


def test_values_keep_their_kind_and_yes_no_is_chinese():
    data = sheets.workbook([sheets.Sheet("表", ["名称", "达标", "分钟", "小时", "日期"],
                                         [["张三", True, 90, Decimal("1.5"), dt.date(2026, 3, 5)],
                                          ["李四", False, 0, Decimal("0"), None]])])
    ws = _open(data)["表"]
    assert [c.value for c in ws[2]][:4] == ["张三", "是", 90, 1.5]
    assert [c.data_type for c in ws[2]] == ["s", "s", "n", "n", "d"]
    assert ws["B3"].value == "否" and ws["E3"].value is None


def test_rows_go_through_the_formula_rule():
    ws = _open(sheets.workbook([sheets.Sheet("表", ["名称"], [['=HYPERLINK("http://x","y")'], ["-3"]])]))["表"]
    assert (ws["A2"].value, ws["A2"].data_type) == ("'=HYPERLINK(\"http://x\",\"y\")", "s")
    assert ws["A3"].value == "-3"


def test_header_frozen_bold_widths_and_a4_print_set_up():
    ws = _open(sheets.workbook([sheets.Sheet("活动", ["活动名称", "n"],
                                             [["新时代文明实践志愿服务广场宣讲", 1]])]))["活动"]
    assert ws.freeze_panes == "A2" and ws["A1"].font.b
    assert ws.column_dimensions["A"].width >= 30 and ws.column_dimensions["B"].width == sheets.MIN_WIDTH
    assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
    assert ws.print_title_rows == "$1:$1" and ws.sheet_properties.pageSetUpPr.fitToPage


def test_frames_go_through_the_same_writer_without_numpy_leftovers():
    frame = pd.DataFrame({"单位": ["东风村", "合计"], "人数": [3, 5], "达标": [True, False],
                          "比率": [0.5, float("nan")]})
    ws = _open(sheets.xlsx_bytes([("总览", frame)]))["总览"]
    assert [c.value for c in ws[2]] == ["东风村", 3, "是", 0.5]
    assert [c.value for c in ws[3]] == ["合计", 5, "否", None]


def test_tab_names_are_valid_and_unique():
    used: set[str] = set()
    assert sheets.sheet_title("a/b:c", used) == "a_b_c"
    assert sheets.sheet_title("a/b:c", used) == "a_b_c(2)"
    assert len(sheets.sheet_title("很" * 40, used)) <= 31
