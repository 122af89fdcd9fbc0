"""Station ledgers (台账): parse a CSV/XLSX sheet of service records and validate every row.

All-or-nothing: `parse_taizhang` returns every row or raises `ImportRejected` whose
`details["rows"]` names each problem as `{"row": n, "field": "<Chinese column>",
"reason": "中文 (English)"}`.  `row` is the row's 序号 when it is a positive integer,
otherwise its line in the sheet (the header is line 1).

Minutes come from the start/end span; a written 服务时长 is a cross-check only.  It agrees
when, in minutes, it is within half a minute of the span (1.33 h for 1 h 20 min passes,
1.3 h does not); otherwise the row is refused, naming both figures.  Times are naive local
(China Standard Time) datetimes on the service date; a service crossing midnight is refused.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator

from ledger.errors import ImportRejected, ValidationFailed
from ledger.names import clean_name
from ledger.people.idcard import id_number_problem, mask_id_number, normalise_id_number, normalise_phone, phone_problem
from ledger.service.sheets import Problems, read_sheet

COLUMNS = ("序号", "姓名", "身份证号", "联系电话", "所属站点", "活动名称", "服务类别",
           "服务日期", "开始时间", "结束时间", "服务时长", "确认人")
REQUIRED_COLUMNS = ("姓名", "身份证号", "所属站点", "活动名称", "服务日期", "开始时间", "结束时间")
_ALIASES = {
    "编号": "序号", "序列号": "序号", "志愿者姓名": "姓名",
    "身份证": "身份证号", "身份证号码": "身份证号", "公民身份号码": "身份证号", "证件号码": "身份证号",
    "电话": "联系电话", "手机": "联系电话", "手机号": "联系电话", "手机号码": "联系电话",
    "联系方式": "联系电话", "电话号码": "联系电话",
    "站点": "所属站点", "实践站": "所属站点", "所属实践站": "所属站点", "站点名称": "所属站点",
    "活动": "活动名称", "活动项目": "活动名称", "服务项目": "活动名称",
    "类别": "服务类别", "服务类型": "服务类别", "活动类别": "服务类别",
    "日期": "服务日期", "活动日期": "服务日期", "开始": "开始时间", "结束": "结束时间",
    "时长": "服务时长", "服务时数": "服务时长", "服务小时数": "服务时长", "志愿服务时长": "服务时长",
    "确认": "确认人", "审核人": "确认人", "负责人": "确认人",
}
NAME_COLUMNS = ("姓名", "所属站点", "活动名称")
MAX_SERVICE_MINUTES = 24 * 60
_HALF_MINUTE = Decimal("0.5")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s+0?0:00(?::00)?)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_HOURS = re.compile(_NUMBER + r"\s*(?:小时|个小时|时|h|hr|hrs|hour|hours)?", re.I)
_MINUTES = re.compile(_NUMBER + r"\s*(?:分钟|分|min|mins|minute|minutes)", re.I)
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?E\+?\d+", re.I)


class CellProblem(ValueError):
    """One cell cannot be used; the message is the reason shown to the station."""


@dataclass(frozen=True)
class TaizhangRow:
    """One validated service record from a station ledger (台账); raw ID/phone kept out of repr."""

    row_number: int
    name: str
    id_number: str = field(repr=False)
    phone: str | None = field(repr=False)
    station_name: str
    activity_title: str
    category: str | None
    service_date: date
    started_at: datetime
    ended_at: datetime
    minutes: int
    confirmed_by: str | None

    @property
    def id_number_masked(self) -> str:
        """The ID number as it may be shown or logged."""
        return mask_id_number(self.id_number)


def parse_taizhang(data: bytes, filename: str, today: date | None = None) -> list[TaizhangRow]:
    """Parse and validate a whole ledger; return every row or raise `ImportRejected`.

    The work is bounded whatever the file (see `ledger.service.sheets`): the row limit is
    checked while reading, overlaps are found by one sort, and at most
    `MAX_REPORTED_PROBLEMS` problems are listed (all of them counted).
    """
    header, records = read_sheet(data, filename, _text)
    positions = _locate_columns(header)
    today = today or date.today()
    rows: list[TaizhangRow] = []
    problems = Problems(column_rank)
    for line, cells in records:
        values = {name: cells[i] if i < len(cells) else None for name, i in positions.items()}
        row = _parse_record(_row_number(values.get("序号"), line), values, today, problems)
        if row is not None:
            rows.append(row)
    del records
    problems.extend(find_overlaps(rows))
    if problems:
        raise problems.rejection()
    return rows


def canonical_column(header: str) -> str | None:
    """The standard column name for a header (whitespace, units and aliases allowed), or None."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", header))
    text = re.sub(r"\((?:小时|h|分钟|min|hh:mm|yyyy-mm-dd)\)$", "", text, flags=re.I)
    text = text.rstrip("*")  # "姓名*" marks a required column in many templates
    if text in COLUMNS:
        return text
    return _ALIASES.get(text)


def parse_service_date(value: Any) -> date:
    """A date from `2026-03-05`, `2026/3/5`, `2026年3月5日`, `20260305` or an Excel date cell."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    match = _DATE.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if not match:
        raise CellProblem(f"日期格式无法识别 (unrecognised date format): {text}")
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise CellProblem(f"日期不存在 (no such date): {text}") from None


def parse_clock_time(value: Any) -> time:
    """A time of day from `HH:MM`, `H:MM`, `HH:MM:SS` or an Excel time cell, to the minute."""
    if isinstance(value, datetime):
        value = value.time()
    if isinstance(value, time):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return _round_to_minute(seconds + Decimal(value.microsecond) / 1_000_000)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        return _round_to_minute(Decimal(str(value)) * 86400)  # Excel: a fraction of a day
    text = _text(value)
    match = _TIME.fullmatch(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3] or 0) > 59:
        raise CellProblem(f"时间格式无效，应为 HH:MM (not a time of day HH:MM): {text}")
    return time(int(match[1]), int(match[2]))


def parse_duration_minutes(value: Any) -> Decimal:
    """Minutes (exact Decimal) from `2.5`, `2.5小时`, `2.5h`, `150分钟` or a numeric cell."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value)) * 60  # a numeric cell holds hours
    text = _text(value)
    try:
        if match := _MINUTES.fullmatch(text):
            return Decimal(match[1])
        if match := _HOURS.fullmatch(text):
            return Decimal(match[1]) * 60
    except InvalidOperation:
        pass
    raise CellProblem(f"服务时长不是数字 (duration is not a number): {text}")


def find_overlaps(rows: list[TaizhangRow]) -> Iterator[dict[str, Any]]:
    """A problem for each row whose time overlaps another row of the same person.

    One sort by (person, start), then a sweep that remembers the person's row ending last:
    a row starting before that end overlaps it, and both are named (each row at most once as
    the one overlapping, so n rows give at most 2n problems, never n²).
    """
    ordered = sorted(rows, key=lambda r: (r.id_number, r.started_at, r.row_number))
    latest: TaizhangRow | None = None
    named: set[int] = set()
    for row in ordered:
        if latest is not None and latest.id_number == row.id_number and row.started_at < latest.ended_at:
            yield _overlap(row, latest)
            if id(latest) not in named:
                named.add(id(latest))
                yield _overlap(latest, row)
        if latest is None or latest.id_number != row.id_number or row.ended_at > latest.ended_at:
            latest = row


def _parse_record(row_number: int, values: dict[str, Any], today: date, problems: Problems) -> TaizhangRow | None:
    """Validate one record, appending each problem; a row only when it has none."""
    found_before = len(problems)

    def check(column: str, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(values.get(column))
        except CellProblem as problem:
            problems.append({"row": row_number, "field": column, "reason": str(problem)})
            return None

    text = {column: check(column, _name if column in NAME_COLUMNS else _required) for column in REQUIRED_COLUMNS}
    id_number = check("身份证号", _id_number) if text["身份证号"] else None
    phone = check("联系电话", _phone)
    service_date = check("服务日期", lambda v: _past_date(v, today)) if text["服务日期"] else None
    start = check("开始时间", parse_clock_time) if text["开始时间"] else None
    end = check("结束时间", parse_clock_time) if text["结束时间"] else None
    has_times = start is not None and end is not None
    span = check("结束时间", lambda v: _span(start, end)) if has_times else None
    written = check("服务时长", _written_duration) if _text(values.get("服务时长")) else None
    if span is not None and written is not None:
        check("服务时长", lambda v: _agree(written, span))
    if len(problems) > found_before:
        return None
    return TaizhangRow(
        row_number=row_number, name=text["姓名"], id_number=id_number, phone=phone,
        station_name=text["所属站点"], activity_title=text["活动名称"],
        category=_text(values.get("服务类别")) or None, service_date=service_date,
        started_at=datetime.combine(service_date, start),
        ended_at=datetime.combine(service_date, end), minutes=span,
        confirmed_by=_text(values.get("确认人")) or None,
    )


def _required(value: Any) -> str:
    """The cell as text; a blank cell is a problem."""
    text = _text(value)
    if not text:
        raise CellProblem("必填项为空 (required value is missing)")
    return text


def _name(value: Any) -> str:
    """A name cell (person, station, activity): required, and clean as every name (`clean_name`)."""
    try:
        return clean_name(_required(value), "name", max_length=200, label="名称")
    except ValidationFailed as problem:
        raise CellProblem(problem.message) from None


def _id_number(value: Any) -> str:
    """A normalised, valid ID number; numbers Excel stored as floats are explained."""
    if isinstance(value, (int, float)) or _SCIENTIFIC.fullmatch(_text(value)):
        raise CellProblem("身份证号被存成了数字，末位已丢失，请将该列设为文本 "
                          "(ID number was stored as a number and lost digits; format the column as text)")
    problem = id_number_problem(_text(value))
    if problem:
        raise CellProblem(problem)
    return normalise_id_number(_text(value))


def _phone(value: Any) -> str | None:
    """A normalised phone number, or None when the cell is blank (the column is optional)."""
    text = _text(value)
    if not text:
        return None
    problem = phone_problem(text)
    if problem:
        raise CellProblem(problem)
    return normalise_phone(text)


def _past_date(value: Any, today: date) -> date:
    """The service date, refusing a date after `today`."""
    service_date = parse_service_date(value)
    if service_date > today:
        raise CellProblem(f"服务日期在今天之后 (date is in the future): {service_date.isoformat()}")
    return service_date


def _span(start: time, end: time) -> int:
    """Whole minutes from start to end on the same day; end must be after start."""
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    if minutes <= 0:
        raise CellProblem(f"结束时间早于或等于开始时间 (end is not after start): "
                          f"{start:%H:%M} → {end:%H:%M}")
    return minutes


def _written_duration(value: Any) -> Decimal:
    """The written 服务时长 in minutes: positive and at most 24 hours."""
    minutes = parse_duration_minutes(value)
    if minutes <= 0:
        raise CellProblem(f"服务时长必须大于0 (duration must be positive): {_text(value)}")
    if minutes > MAX_SERVICE_MINUTES:
        raise CellProblem(f"服务时长超过24小时 (service longer than 24 hours): {_hours(minutes)} 小时")
    return minutes


def _agree(written: Decimal, span: int) -> None:
    """Refuse a written duration that is not within half a minute of the start/end span."""
    if abs(written - span) > _HALF_MINUTE:
        raise CellProblem(
            f"服务时长与起止时间不符：填写 {_hours(written)} 小时，起止时间为 {_hours(span)} 小时 "
            f"(duration disagrees with start/end: written {_hours(written)} h = {_plain(written)} min, "
            f"start-end span {_hours(span)} h = {span} min)"
        )


def _overlap(row: TaizhangRow, other: TaizhangRow) -> dict[str, Any]:
    """The problem reported on `row` for overlapping `other`."""
    when = f"{other.started_at:%Y-%m-%d %H:%M}–{other.ended_at:%H:%M}"
    return {"row": row.row_number, "field": "开始时间",
            "reason": f"与第 {other.row_number} 行同一人的服务时间重叠 "
                      f"(overlaps row {other.row_number} of the same person, {when})"}


def _locate_columns(header: list[str]) -> dict[str, int]:
    """Map each standard column to its index; refuse when a required column is missing."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = canonical_column(name)
        if column and column not in positions:
            positions[column] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        rows = [{"row": 1, "field": c, "reason": "缺少必填列 (required column is missing)"}
                for c in missing]
        raise ImportRejected(f"缺少必填列：{'、'.join(missing)} (missing required columns)",
                             field=missing[0], rows=rows)
    return positions


def _row_number(value: Any, line: int) -> int:
    """The 序号 when it is a positive integer, else the sheet line."""
    text = _text(value)
    return int(text) if text.isdigit() and int(text) > 0 else line


def _text(value: Any) -> str:
    """A cell as stripped NFKC text; integral floats lose their `.0`."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _round_to_minute(seconds: Decimal | int) -> time:
    """A time of day from seconds since midnight, rounded to the nearest minute."""
    minutes = int((Decimal(seconds) / 60).to_integral_value())
    if not 0 <= minutes < 24 * 60:
        raise CellProblem("时间超出一天范围 (time is outside one day)")
    return (datetime.min + timedelta(minutes=minutes)).time()


def _hours(minutes: Decimal | int) -> str:
    """Minutes as a short hours figure: 150 -> '2.5'."""
    return _plain(Decimal(minutes) / 60)


def _plain(number: Decimal) -> str:
    """A Decimal to at most two places, without trailing zeros."""
    text = f"{number.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def column_rank(column: str) -> int:
    """Order of a column in the standard layout, for sorting problems."""
    return COLUMNS.index(column) if column in COLUMNS else len(COLUMNS)

