"""台账归档 as files: a workbook (概况, 每月统计, 活动, 服务记录) and a printable A4 PDF.

Both are drawn from `ledger.service.archive.station_archive`.  The PDF uses the CJK font the
certificate uses (`find_cjk_font`), prints the header row of each table again on every page,
numbers its pages and ends with lines to sign and seal, as a bound yearly archive needs.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from ledger.book.amounts import hours_text
from ledger.spreadsheet import Sheet, workbook
from ledger.volunteer_view.certificate_pdf import FAMILY, find_cjk_font

ACTIVITY_HEADERS = ("序号", "日期", "活动名称", "服务类别", "举办单位", "队伍", "地点", "组织者", "集中服务",
                    "标签", "参与志愿者(人)", "服务时长(小时)")
RECORD_HEADERS = ("序号", "服务日期", "开始时间", "结束时间", "志愿者编号", "姓名", "活动名称", "服务类别",
                  "服务单位", "时长(分钟)", "时长(小时)", "确认人", "录入人", "审核人", "状态")
MONTH_HEADERS = ("月份", "活动次数", "服务人次", "参与志愿者(人)", "服务时长(小时)")


def hours(minutes: int) -> Decimal:
    """Minutes as a number of hours for a cell (the same rounding as every page shows)."""
    return Decimal(hours_text(minutes))


def archive_filename(archive: dict, extension: str) -> str:
    """A file name such as 台账归档_东风村新时代文明实践站_2026-H1.xlsx."""
    name = "".join(c for c in archive["unit"]["name"] if c not in '\\/:*?"<>|')
    return f"台账归档_{name}_{archive['period']['code']}.{extension}"


def overview_rows(archive: dict) -> list[tuple[str, object]]:
    """The archive's overview as (item, value) pairs, numbers as numbers."""
    unit, period, summary = archive["unit"], archive["period"], archive["summary"]
    rows: list[tuple[str, object]] = [
        ("单位", unit["name"]), ("单位类别", unit["kind_name"]), ("单位编码", unit["code"]),
        ("归档期间", period["label"]), ("起始日期", period["from"]), ("截止日期", period["to"]),
        ("活动次数", summary["activities"]), ("其中集中服务", summary["concentrated"]),
        ("服务人次", summary["services"]), ("参与志愿者(人)", summary["volunteers"]),
        ("服务总时长(小时)", hours(summary["minutes"])),
        ("已冲正记录(条，列出但不计入)", summary["reversed"]),
        ("待审核记录(条，未列入)", summary["pending"]),
        ("负责人", unit["responsible_person"]), ("联系方式", unit["contact"]), ("制表日期", archive["made_on"]),
    ]
    if not period["is_complete"]:
        rows.append(("说明", f"本期间尚未结束，统计截至 {archive['made_on']:%Y年%m月%d日}"))
    return rows


def _activity_rows(archive: dict) -> list[list]:
    return [[n, a["date"], a["title"], a["category"], a["unit"], a["team"], a["place"], a["organiser"],
             a["is_concentrated"], a["tags"], a["volunteers"], hours(a["minutes"])]
            for n, a in enumerate(archive["activities"], start=1)]


def _record_rows(archive: dict) -> list[list]:
    return [[n, r["date"], r["started_at"].time(), r["ended_at"].time(), r["volunteer_number"],
             r["volunteer_name"], r["activity"], r["category"], r["unit"], r["minutes"], hours(r["minutes"]),
             r["confirmed_by"], r["recorded_by"], r["approved_by"], r["status_name"]]
            for n, r in enumerate(archive["records"], start=1)]


def _month_rows(archive: dict) -> list[list]:
    rows = [[m["label"], m["activities"], m["services"], m["volunteers"], hours(m["minutes"])]
            for m in archive["months"]]
    summary = archive["summary"]
    rows.append(["合计", summary["activities"], summary["services"], summary["volunteers"],
                 hours(summary["minutes"])])
    return rows


def archive_xlsx(archive: dict) -> bytes:
    """The archive as a workbook of four sheets."""
    return workbook([
        Sheet("概况", ("项目", "内容"), overview_rows(archive), landscape=False),
        Sheet("每月统计", MONTH_HEADERS, _month_rows(archive), landscape=False),
        Sheet("活动", ACTIVITY_HEADERS, _activity_rows(archive)),
        Sheet("服务记录", RECORD_HEADERS, _record_rows(archive)),
    ])


class _ArchivePDF(FPDF):
    """A4 landscape with the archive's title in the header and page x of n in the footer."""

    title_line = ""

    def header(self) -> None:
        self.set_font(FAMILY, "", 8)
        self.set_text_color(110)
        self.cell(0, 5, self.title_line, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.cell(0, 6, f"第 {self.page_no()} 页，共 {{nb}} 页", align="C")


def archive_pdf(archive: dict, font_path: str | None = None) -> bytes:
    """The archive as a printable PDF (A4 landscape): overview, months, activities, records, signatures."""
    pdf = _ArchivePDF(orientation="L", format="A4")
    font = find_cjk_font(font_path)
    pdf.add_font(FAMILY, "", font)
    pdf.add_font(FAMILY, "B", font)
    unit, period = archive["unit"], archive["period"]
    pdf.title_line = f"{unit['name']} 台账 {period['label']}"
    pdf.set_title(f"{unit['name']} 志愿服务台账 {period['label']}")
    pdf.set_creator("volunteer ledger")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 18)
    pdf.cell(0, 12, f"{unit['name']}志愿服务台账", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 12)
    pdf.cell(0, 8, f"{period['label']}（{_date_cn(period['from'])}至{_date_cn(period['to'])}）", align="C",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    _overview(pdf, archive)
    _table(pdf, "一、每月统计", MONTH_HEADERS, _month_rows(archive), (40, 30, 30, 40, 40))
    _table(pdf, "二、活动", ACTIVITY_HEADERS,
           _activity_rows(archive), (10, 20, 50, 22, 34, 24, 28, 18, 14, 16, 16, 17))
    _table(pdf, "三、服务记录", RECORD_HEADERS[:9] + RECORD_HEADERS[10:],
           [row[:9] + row[10:] for row in _record_rows(archive)],
           (9, 19, 13, 13, 27, 18, 42, 18, 30, 15, 16, 20, 20, 14))
    _signatures(pdf)
    return bytes(pdf.output())


def _overview(pdf: FPDF, archive: dict) -> None:
    pdf.set_font(FAMILY, "", 10)
    with pdf.table(col_widths=(60, 80, 60, 77), line_height=6, wrapmode="CHAR", text_align="LEFT",
                   first_row_as_headings=False, padding=1) as table:
        pairs = overview_rows(archive)
        for index in range(0, len(pairs), 2):
            cells = []
            for item, value in pairs[index:index + 2]:
                cells += [item, _text(value)]
            table.row(cells + ["", ""][:4 - len(cells)])
    pdf.ln(4)


def _table(pdf: FPDF, heading: str, headers, rows: list[list], widths) -> None:
    """A titled table whose header row repeats on each page; an empty one says so."""
    if pdf.get_y() > pdf.h - 50:
        pdf.add_page()
    pdf.set_font(FAMILY, "B", 12)
    pdf.cell(0, 9, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not rows:
        pdf.set_font(FAMILY, "", 10)
        pdf.cell(0, 7, "本期间无记录。", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
        return
    pdf.set_font(FAMILY, "", 8)
    style = FontFace(emphasis="BOLD", fill_color=(232, 232, 232))
    with pdf.table(col_widths=widths, line_height=4.5, wrapmode="CHAR", text_align="LEFT",
                   headings_style=style, repeat_headings=1, padding=0.8) as table:
        table.row(list(headers))
        for row in rows:
            table.row([_text(value) for value in row])
    pdf.ln(4)


def _signatures(pdf: FPDF) -> None:
    if pdf.get_y() > pdf.h - 40:
        pdf.add_page()
    pdf.ln(6)
    pdf.set_font(FAMILY, "", 11)
    for text in ("站长（负责人）签字：____________", "经办人签字：____________", "（单位盖章）    年    月    日"):
        pdf.cell(90, 10, text)
    pdf.ln(10)


def _text(value: object) -> str:
    """A cell of the PDF as people read it."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def _date_cn(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"
