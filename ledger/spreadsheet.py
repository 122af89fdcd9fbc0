"""Spreadsheet exports (CSV and Excel) that no spreadsheet reads as a formula.

Every export the service writes goes through `csv_text` or `xlsx_bytes`, which pass each cell
through `safe_cell`: text that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
would be taken by Excel, WPS or LibreOffice as a formula (`=HYPERLINK(...)`, DDE), so it is
written with a leading apostrophe, as OWASP's CSV-injection advice and spreadsheet-safe
exporters do.  Numbers stay numbers (and text that is a plain number, like `-3` or `+1.5`,
is left alone: no spreadsheet evaluates it as anything but that number).
"""
from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pandas is imported when an export is made, not when the service starts
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


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


def xlsx_bytes(sheets: Iterable[tuple[str, pd.DataFrame]]) -> bytes:
    """A workbook with one sheet per (name, frame), without the index, made safe cell by cell."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets:
            safe_frame(frame).to_excel(writer, sheet_name=name, index=False)
    return buffer.getvalue()
