"""Reading an uploaded sheet (CSV or the first XLSX worksheet) with bounded work and memory.

An upload is refused, with a Chinese reason naming the file, before it can exhaust the
server: above `MAX_FILE_BYTES`; an XLSX whose zip entries expand beyond
`MAX_XLSX_UNCOMPRESSED_BYTES` (checked in the zip directory, before anything is parsed) or
whose worksheet says it holds more than `MAX_SHEET_LINES` lines; any sheet with more than
`MAX_ROWS` data rows or `MAX_SHEET_LINES` lines (counted while streaming, so a lying
dimension stops there).  XLSX is read by openpyxl in read-only (streaming) mode, at most
`MAX_COLUMNS` columns a row.  `Problems` keeps what is wrong with a sheet bounded too: every
problem counted, the first `MAX_REPORTED_PROBLEMS` (in row and column order) kept to show.
"""
from __future__ import annotations

import codecs
import csv
import heapq
import io
import zipfile
from itertools import count
from typing import Any, Iterable, Iterator

from ledger.errors import ImportRejected

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 10_000  # data rows in one file: a station's ledger of a year fits many times over
MAX_SHEET_LINES = 5 * MAX_ROWS  # lines read at all, blank ones included
MAX_COLUMNS = 64
MAX_ROW_CHARS = 64 * 1024  # one row of a CSV (a line, or the lines of a row with quoted line breaks)
MAX_TEXT_CHARS = 4_000_000  # the text of every row kept (10,000 rows of a real ledger: about 1 million)
MAX_XLSX_SHARED_STRINGS_BYTES = 8 * 1024 * 1024  # openpyxl holds every shared string in memory
MAX_XLSX_UNCOMPRESSED_BYTES = 40 * 1024 * 1024
MAX_XLSX_ENTRIES = 1_000
MAX_REPORTED_PROBLEMS = 200
_CHUNK = 1 << 20

Record = tuple[int, list[Any]]  # (line in the sheet, cells)


def read_sheet(data: bytes, filename: str, text: Any) -> tuple[list[str], list[Record]]:
    """Header and non-blank (line number, cells) records of a CSV or the first XLSX sheet.

    `text(cell)` turns a cell into stripped text (to tell blank rows from data).
    """
    if not data or data.isspace():
        raise _empty()
    if len(data) > MAX_FILE_BYTES:
        raise too_large()
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise file_problem("不支持旧版 .xls，请另存为 .xlsx 或 .csv (legacy .xls is not supported)")
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04")
    if is_xlsx:
        return _bounded(_xlsx_lines(data), text)
    _check_csv_lines(data)
    return _bounded(_csv_lines(data, csv_encoding(data)), text)


def csv_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 as Excel in China saves; checked without a decoded copy."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        view = memoryview(data)
        try:
            for start in range(0, len(view), _CHUNK):
                decoder.decode(view[start:start + _CHUNK], final=start + _CHUNK >= len(view))
        except UnicodeDecodeError:
            continue
        return encoding
    raise file_problem("无法识别文件编码，请存为 UTF-8 (unknown text encoding)")


def _bounded(lines: Iterable[list[Any]], text: Any) -> tuple[list[str], list[Record]]:
    """The header and the data records, refusing a sheet past the row, line or text limits."""
    numbered: list[Record] = []
    kept_chars = 0
    for number, cells in enumerate(lines, start=1):
        if number > MAX_SHEET_LINES:
            raise too_many_rows()
        if any(text(c) for c in cells):
            if len(numbered) > MAX_ROWS:  # the header and MAX_ROWS data rows are already in
                raise too_many_rows()
            cells = cells[:MAX_COLUMNS]
            kept_chars += sum(len(c) for c in cells if isinstance(c, str))
            if kept_chars > MAX_TEXT_CHARS:
                raise file_problem(f"台账内容过多（超过 {MAX_TEXT_CHARS} 字），请拆分后分别导入 "
                                   f"(more than {MAX_TEXT_CHARS} characters of text; split the file)")
            numbered.append((number, cells))
    if len(numbered) < 2:
        raise _empty()
    (_, header), records = numbered[0], numbered[1:]
    return [text(h) for h in header], records


def _check_csv_lines(data: bytes) -> None:
    """Refuse, before decoding, a CSV with more lines than are ever read or a line past the row limit."""
    if data.count(b"\n") >= MAX_SHEET_LINES:
        raise too_many_rows()
    start = 0
    for number in range(1, MAX_SHEET_LINES + 1):
        end = data.find(b"\n", start)
        if (end if end >= 0 else len(data)) - start > MAX_ROW_CHARS:
            raise _too_wide(number)
        if end < 0:
            return
        start = end + 1


def _csv_lines(data: bytes, encoding: str) -> Iterator[list[Any]]:
    """The CSV's rows, decoded as they are read (the file is never held as one string).

    A row that spans lines (quoted line breaks) is refused once its lines pass the row limit,
    before the csv module has split it into fields.
    """
    row_chars = [0]

    def lines() -> Iterator[str]:
        for line in io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline=""):
            row_chars[0] += len(line)
            if row_chars[0] > MAX_ROW_CHARS:
                raise _too_wide(reader.line_num + 1)
            yield line

    reader = csv.reader(lines())
    try:
        for row in reader:
            row_chars[0] = 0
            yield row
    except csv.Error:
        raise file_problem("无法读取 CSV 文件（格式错误或单元格过长） (not a readable CSV file)") from None


def _xlsx_lines(data: bytes) -> Iterator[list[Any]]:
    """Cell values of the first worksheet, row by row, streamed; refused early when too large."""
    from openpyxl import load_workbook  # imported here: CSV imports need no openpyxl

    _check_zip(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError):
        raise file_problem("无法读取 Excel 文件 (not a readable .xlsx file)") from None
    try:
        sheet = book.worksheets[0]
        if (sheet.max_row or 0) > MAX_SHEET_LINES:  # the sheet's own dimension, before any row
            raise too_many_rows()
        yield from (list(cells) for cells in sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, EOFError):
        raise file_problem("无法读取 Excel 文件 (not a readable .xlsx file)") from None
    finally:
        book.close()


def _check_zip(data: bytes) -> None:
    """Refuse an XLSX whose entries would expand past the limit (read from the zip directory)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise file_problem("无法读取 Excel 文件 (not a readable .xlsx file)") from None
    expanded = sum(entry.file_size for entry in entries)
    shared = sum(entry.file_size for entry in entries if entry.filename.lower().endswith("sharedstrings.xml"))
    if len(entries) > MAX_XLSX_ENTRIES or expanded > MAX_XLSX_UNCOMPRESSED_BYTES:
        limit = MAX_XLSX_UNCOMPRESSED_BYTES // (1024 * 1024)
        raise file_problem(f"Excel 文件解压后超过 {limit} MB（约 {expanded // (1024 * 1024)} MB），"
                           f"请删除多余内容或拆分后分别导入 "
                           f"(the .xlsx expands to {expanded} bytes, more than {limit} MB)", expanded=expanded)
    if shared > MAX_XLSX_SHARED_STRINGS_BYTES:
        limit = MAX_XLSX_SHARED_STRINGS_BYTES // (1024 * 1024)
        raise file_problem(f"Excel 文件中的文字表解压后超过 {limit} MB，请删除多余内容或拆分后分别导入 "
                           f"(the .xlsx's shared strings expand to {shared} bytes, more than {limit} MB)",
                           expanded=shared)


def too_large() -> ImportRejected:
    """The error for a file past the size limit."""
    megabytes = MAX_FILE_BYTES // (1024 * 1024)
    return file_problem(f"文件超过 {megabytes} MB，请拆分后分别导入 (the file is larger than {megabytes} MB; split it)")


def _too_wide(line: int) -> ImportRejected:
    return file_problem(f"第 {line} 行过长（超过 {MAX_ROW_CHARS // 1024} KB），请检查文件 "
                        f"(line {line} is longer than {MAX_ROW_CHARS // 1024} KB)", line=line)


def too_many_rows() -> ImportRejected:
    """The error for a sheet past the row limit."""
    return file_problem(f"台账超过 {MAX_ROWS} 行，请拆分为多个文件后分别导入 "
                        f"(more than {MAX_ROWS} data rows in one file; split it)", max_rows=MAX_ROWS)


def file_problem(reason: str, **details: Any) -> ImportRejected:
    """A whole-file error naming the file (文件)."""
    return ImportRejected(reason, field="文件", rows=[{"row": 0, "field": "文件", "reason": reason}], **details)


def _empty() -> ImportRejected:
    """The error for a file without data rows."""
    return ImportRejected("文件为空，没有数据行 (file is empty: no data rows)", rows=[])


class Problems:
    """What is wrong with a sheet: every problem counted, the first few (by row, column) kept."""

    def __init__(self, column_rank: Any, limit: int = MAX_REPORTED_PROBLEMS):
        self._rank, self._limit = column_rank, limit
        self._kept: list[tuple[int, int, int, dict]] = []  # a max-heap by (row, column) via negation
        self._order = count()
        self.total = 0
        self.bad_rows: set[int] = set()

    def append(self, problem: dict) -> None:
        """Count a problem `{"row", "field", "reason"}`; keep it when it is among the first."""
        self.total += 1
        self.bad_rows.add(problem["row"])
        entry = (-problem["row"], -self._rank(problem["field"]), -next(self._order), problem)
        if len(self._kept) < self._limit:
            heapq.heappush(self._kept, entry)
        elif entry > self._kept[0]:
            heapq.heapreplace(self._kept, entry)

    def extend(self, problems: Iterable[dict]) -> None:
        """Count several problems."""
        for problem in problems:
            self.append(problem)

    def __len__(self) -> int:
        return self.total

    def shown(self) -> list[dict]:
        """The kept problems in row, then column order."""
        return [entry[3] for entry in sorted(self._kept, reverse=True)]

    def rejection(self) -> ImportRejected:
        """The all-or-nothing refusal: counts, and the problems shown."""
        bad, shown = len(self.bad_rows), self.shown()
        more = (f"；共 {self.total} 处错误，仅列出前 {len(shown)} 处 "
                f"({self.total} problems, the first {len(shown)} shown)" if self.total > len(shown) else "")
        return ImportRejected(f"台账有 {bad} 行错误，未导入任何记录{more} ({bad} bad rows; nothing was imported)",
                              rows=shown, bad_rows=bad, problems_total=self.total)
