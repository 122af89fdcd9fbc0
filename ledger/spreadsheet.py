"""Spreadsheet exports (CSV and Excel) that people can use as they open them, and that no
spreadsheet reads as a formula.

Every export the service writes goes through `csv_text`, `xlsx_bytes` or `workbook`, which pass
each cell through `safe_cell`: text that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
would be taken by Excel, WPS or LibreOffice as a formula (`=HYPERLINK(...)`, DDE), so it is
written with a leading apostrophe, as OWASP's CSV-injection advice and spreadsheet-safe
exporters do.  Numbers stay numbers (and text that is a plain number, like `-3` or `+1.5`,
is left alone: no spreadsheet evaluates it as anything but that number).

Workbooks are ready to use: each sheet has its headers in a bold, frozen first row, columns
as wide as their content (a Chinese character counts twice), A4 print set-up (fit to the page
width, the header row repeated on every page, page x of n in the footer); yes/no is 是/否
(never TRUE/FALSE), dates are dates.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # pandas is imported when an export is made, not when the service starts
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
MIN_WIDTH, MAX_WIDTH = 6, 60
WIDTH_SAMPLE = 2000  # rows looked at to size a column


def safe_cell(value: Any) -> Any:
    """The cell as it may be exported: formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the frame with every cell (and column title) passed through `safe_cell`."""
    safe = frame.map(safe_cell) if len(frame.columns) else frame.copy()
    safe.columns = [safe_cell(column) for column in frame.columns]
    return safe


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV text, without the index, made safe cell by cell."""
    return safe_frame(frame).to_csv(index=False)


def xlsx_bytes(sheets: Iterable[tuple[str, pd.DataFrame]], landscape: bool = True) -> bytes:
    """A workbook with one sheet per (name, frame), without the index: headers are the columns."""
    return workbook(Sheet(name, [str(c) for c in frame.columns],
                          [[None if _is_missing(v) else v for v in row] for row in frame.itertuples(index=False)],
                          landscape)
                    for name, frame in sheets)


def _is_missing(value: Any) -> bool:
    """True for None and pandas' NaN / NaT (a blank cell)."""
    try:
        return value is None or (not isinstance(value, (str, bytes, bool)) and value != value)
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its tab name, Chinese headers and rows of plain values."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Any]]
    landscape: bool = True


def cell_value(value: Any) -> Any:
    """A value as it should sit in a cell: 是/否 for booleans, numbers as numbers, safe text."""
    if value is None:
        return ""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ""
    if isinstance(value, (int, float, Decimal, dt.date, dt.time)):
        return value
    return safe_cell(str(value))


def display_width(value: Any) -> int:
    """How many character cells a value takes in a column (East Asian wide characters count 2)."""
    if isinstance(value, dt.datetime):
        return 16
    if isinstance(value, dt.date):
        return 10
    text = str(value)
    return max((sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
                for line in text.splitlines() or [""]), default=0)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """A width per column: its widest header or value (first rows only), within bounds."""
    widths = [display_width(h) for h in headers]
    for row in rows[:WIDTH_SAMPLE]:
        for index, value in enumerate(row[:len(widths)]):
            widths[index] = max(widths[index], display_width(value))
    return [min(MAX_WIDTH, max(MIN_WIDTH, width + 2)) for width in widths]


def workbook(sheets: Iterable[Sheet]) -> bytes:
    """The sheets as an .xlsx file (written one sheet at a time)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    used: set[str] = set()
    for sheet in sheets:
        _write_sheet(book, sheet, used)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sheet_title(name: str, used: set[str]) -> str:
    """A valid, unique tab name (≤ 31 characters, no []:*?/\\)."""
    clean = "".join("_" if c in "[]:*?/\\" else c for c in str(name))[:28] or "表"
    candidate, n = clean, 2
    while candidate in used:
        candidate, n = f"{clean[:25]}({n})", n + 1
    used.add(candidate)
    return candidate


def _write_sheet(book, sheet: Sheet, used: set[str]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    rows = [[cell_value(v) for v in row] for row in sheet.rows]
    headers = [str(h) for h in sheet.headers]
    ws = book.create_sheet(sheet_title(sheet.title, used))
    for index, width in enumerate(column_widths(headers, rows), start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    _print_setup(ws, sheet.landscape, len(headers), len(rows) + 1)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E8E8E8")
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(ws, value=cell_value(header))
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        header_cells.append(cell)
    ws.append(header_cells)
    for row in rows:
        ws.append([_typed_cell(ws, value) for value in row])


def _typed_cell(ws, value: Any):
    """Dates and times get a readable number format; the rest as they are."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, (dt.date, dt.time)):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = ("yyyy-mm-dd hh:mm" if isinstance(value, dt.datetime)
                              else "hh:mm" if isinstance(value, dt.time) else "yyyy-mm-dd")
        return cell
    return value


def _print_setup(ws, landscape: bool, columns: int, last_row: int) -> None:
    """A4, fit to one page wide, header row on every page, page x of n in the footer."""
    from openpyxl.utils import get_column_letter

    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.horizontalCentered = True
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddHeader.center.text = "&A"
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    if columns:
        ws.print_area = f"A1:{get_column_letter(columns)}{last_row}"
