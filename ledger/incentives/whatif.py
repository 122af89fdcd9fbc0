"""What-if (政策测算): a period's records priced under a draft policy, before anyone publishes it.

Per unit of the subtree it shows the change in points (by the unit where the service was
served), the number of volunteers at each star level now and under the draft, and the points
liability (积分负债: spendable points of the unit's volunteers) now and under the draft.
Nothing is written.  The result is a JSON-ready table; `to_csv`, `to_xlsx` and `chart_png`
shape it for people.
"""
from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.book.tables import Account, Posting
from ledger.errors import ValidationFailed
from ledger.incentives import pricing
from ledger.incentives.policies import parse_document
from ledger.incentives.policy import Policy
from ledger.incentives.repricing import Repriced, reprice
from ledger.incentives.stars import star_level
from ledger.people.access import Principal, require_role, require_unit
from ledger.people.tables import Unit, Volunteer
from ledger.spreadsheet import csv_text, xlsx_bytes

MAX_PERIOD_DAYS = 732
COLUMNS = ["unit_id", "unit_code", "unit_name", "records", "points_current", "points_draft",
           "points_change", "volunteers", "liability_current", "liability_draft"]


@dataclass(frozen=True)
class WhatIf:
    """Command: price [period_from, period_to] in a unit subtree under a draft document."""

    unit_id: int
    period_from: dt.date
    period_to: dt.date
    document: str


def check_period(period_from: dt.date, period_to: dt.date) -> None:
    """A period is a non-empty date range of at most two years."""
    if period_to < period_from:
        raise ValidationFailed("period_to must not be before period_from", field="period_to")
    if (period_to - period_from).days > MAX_PERIOD_DAYS:
        raise ValidationFailed(f"a period is at most {MAX_PERIOD_DAYS} days", field="period_to")


def what_if(session: Session, principal: Principal, command: WhatIf) -> dict:
    """Price the period under the draft and compare points, stars and liability per unit."""
    require_role(principal, "admin", "unit_admin", "auditor")
    root = require_unit(session, principal, command.unit_id)
    check_period(command.period_from, command.period_to)
    draft = parse_document(command.document)
    repriced = reprice(session, root.path, command.period_from, command.period_to,
                       lambda _record, _activity: (None, draft))
    units = session.execute(select(Unit).where(Unit.path.startswith(root.path)).order_by(Unit.path)).scalars().all()
    rows = {unit.id: _empty_row(unit, len(draft.star_levels)) for unit in units}
    for item in repriced:
        row = rows.get(item.unit_id)
        if row is not None:
            row["records"] += 1
            row["points_current"] += item.points_before
            row["points_draft"] += item.points_after
    _add_volunteers(session, rows, repriced, draft, command.period_to)
    for row in rows.values():
        row["points_change"] = row["points_draft"] - row["points_current"]
    table = [row for row in rows.values() if row["records"] or row["volunteers"]]
    return {"unit_id": root.id, "period_from": command.period_from.isoformat(),
            "period_to": command.period_to.isoformat(),
            "draft": {"name": draft.name, "content_hash": draft.content_hash()},
            "star_levels": list(range(len(draft.star_levels) + 1)),
            "units": table, "totals": _totals(table, len(draft.star_levels))}


def _empty_row(unit: Unit, levels: int) -> dict:
    return {"unit_id": unit.id, "unit_code": unit.code, "unit_name": unit.name, "records": 0,
            "points_current": 0, "points_draft": 0, "points_change": 0, "volunteers": 0,
            "stars_current": [0] * (levels + 1), "stars_draft": [0] * (levels + 1),
            "liability_current": 0, "liability_draft": 0}


def _minutes_by_volunteer(session: Session, volunteer_ids: list[int], since: dt.date | None,
                          until: dt.date) -> dict[int, int]:
    found: dict[int, int] = {}
    for offset in range(0, len(volunteer_ids), 500):
        query = (select(Account.owner_id, func.sum(Posting.amount))
                 .join(Posting, Posting.account_id == Account.id)
                 .where(Account.kind == "volunteer_minutes", Account.owner_id.in_(volunteer_ids[offset:offset + 500]),
                        Posting.occurred_on <= until).group_by(Account.owner_id))
        if since is not None:
            query = query.where(Posting.occurred_on >= since)
        found.update({owner: int(total) for owner, total in session.execute(query)})
    return found


def _points_by_volunteer(session: Session, volunteer_ids: list[int]) -> dict[int, int]:
    found: dict[int, int] = {}
    for offset in range(0, len(volunteer_ids), 500):
        found.update({owner: int(value) for owner, value in session.execute(
            select(Account.owner_id, Account.balance).where(
                Account.kind == "volunteer_points", Account.owner_id.in_(volunteer_ids[offset:offset + 500])))})
    return found


def _add_volunteers(session: Session, rows: dict[int, dict], repriced: list[Repriced], draft: Policy,
                    period_to: dt.date) -> None:
    """Star levels and liability of the volunteers homed in each unit, now and under the draft."""
    volunteers = session.execute(
        select(Volunteer.id, Volunteer.home_unit_id, Volunteer.registered_on)
        .where(Volunteer.home_unit_id.in_(list(rows)), Volunteer.status == "active")).all()
    ids = [volunteer_id for volunteer_id, _, _ in volunteers]
    total = _minutes_by_volunteer(session, ids, None, period_to)
    in_year = _minutes_by_volunteer(session, ids, dt.date(period_to.year, 1, 1), period_to)
    points = _points_by_volunteer(session, ids)
    minutes_change, year_change, points_change = defaultdict(int), defaultdict(int), defaultdict(int)
    for item in repriced:
        minutes_change[item.volunteer_id] += item.minutes_after - item.minutes_before
        points_change[item.volunteer_id] += item.points_difference
        if item.service_date.year == period_to.year:
            year_change[item.volunteer_id] += item.minutes_after - item.minutes_before
    current_policies: dict[int, Policy] = {}
    for volunteer_id, home_unit_id, registered_on in volunteers:
        if home_unit_id not in current_policies:
            current_policies[home_unit_id] = pricing.policy_in_force(session, home_unit_id, period_to)[1]
        row = rows[home_unit_id]
        now_total, now_year = total.get(volunteer_id, 0), in_year.get(volunteer_id, 0)
        level_now = star_level(current_policies[home_unit_id], now_total, now_year, registered_on, period_to)
        level_draft = star_level(draft, now_total + minutes_change[volunteer_id],
                                 now_year + year_change[volunteer_id], registered_on, period_to)
        row["volunteers"] += 1
        _count(row["stars_current"], level_now)
        _count(row["stars_draft"], level_draft)
        row["liability_current"] += points.get(volunteer_id, 0)
        row["liability_draft"] += points.get(volunteer_id, 0) + points_change[volunteer_id]


def _count(levels: list[int], level: int) -> None:
    while len(levels) <= level:  # the policy now in force may have more levels than the draft
        levels.append(0)
    levels[level] += 1


def _totals(table: list[dict], levels: int) -> dict:
    totals = {key: sum(row[key] for row in table) for key in COLUMNS[3:]}
    width = max([levels + 1] + [len(row[key]) for row in table for key in ("stars_current", "stars_draft")])
    for key in ("stars_current", "stars_draft"):
        totals[key] = [sum(row[key][i] for row in table if i < len(row[key])) for i in range(width)]
    return totals


EXPORT_HEADERS = {"unit_code": "单位编码", "unit_name": "单位", "records": "服务记录(条)",
                  "points_current": "现行积分", "points_draft": "草案积分", "points_change": "积分变化",
                  "volunteers": "志愿者(人)", "liability_current": "现行积分负债", "liability_draft": "草案积分负债"}


def flat_rows(result: dict) -> list[dict]:
    """One flat row per unit and a total row, Chinese headers (star counts as 0星人数(现行), ...)."""
    width = len(result["totals"]["stars_current"])
    out = []
    for row in result["units"] + [{**result["totals"], "unit_id": None, "unit_code": "", "unit_name": "合计"}]:
        flat = {title: row[key] for key, title in EXPORT_HEADERS.items()}
        for level in range(width):
            flat[f"{level}星人数(现行)"] = row["stars_current"][level] if level < len(row["stars_current"]) else 0
            flat[f"{level}星人数(草案)"] = row["stars_draft"][level] if level < len(row["stars_draft"]) else 0
        out.append(flat)
    return out


def explanation(result: dict) -> list[str]:
    """What the table shows, in sentences, for the 说明 sheet and the page."""
    totals = result["totals"]
    change = totals["points_change"]
    direction = f"增加 {change}" if change > 0 else f"减少 {-change}" if change < 0 else "不变"
    return [
        f"本表按草案《{result['draft']['name']}》重新计算 {result['period_from']} 至 {result['period_to']} "
        f"期间已入账的 {totals['records']} 条服务记录的积分，不写入台账。",
        "“现行”是各条记录入账时适用的政策所给的积分；“草案”是按草案计算的积分。",
        f"合计积分{direction}：现行 {totals['points_current']} 分，草案 {totals['points_draft']} 分。",
        "积分按服务所在单位统计；星级人数与积分负债（志愿者可用积分之和）按志愿者所属单位统计，"
        f"截至 {result['period_to']}。",
        f"草案内容哈希：{result['draft']['content_hash']}（发布时可核对是同一草案）。",
    ]


def to_csv(result: dict) -> str:
    """The what-if table as CSV text (UTF-8, Chinese headers, one row per unit and a total row)."""
    import pandas as pd

    return csv_text(pd.DataFrame(flat_rows(result)))


def to_xlsx(result: dict) -> bytes:
    """The what-if table as a workbook: the table (政策测算), then its explanation (说明)."""
    import pandas as pd

    about = pd.DataFrame({"说明": explanation(result)})
    return xlsx_bytes([("政策测算", pd.DataFrame(flat_rows(result))), ("说明", about)])


CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Noto Serif CJK SC", "Source Han Sans SC", "SimHei")


def cjk_font_family() -> str | None:
    """The name of an installed CJK font matplotlib can use (scripts/setup-system.sh installs them)."""
    from matplotlib import font_manager

    names = {entry.name for entry in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return name
    for path in ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                 "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"):
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def chart_png(result: dict) -> bytes:
    """A PNG chart: points per unit now and under the draft, and volunteers per star level."""
    import matplotlib

    matplotlib.use("Agg")
    family = cjk_font_family()
    fonts = {"font.family": [family, "sans-serif"]} if family else {}
    with matplotlib.rc_context(fonts):
        return _draw(result)


def _bars(axes, labels: list[str], current: list[int], draft: list[int]) -> None:
    """Paired bars, current then draft; whole-number geometry (bar width 2, pairs 6 apart)."""
    positions = [6 * index for index in range(len(labels))]
    axes.bar(positions, current, width=2, align="edge", label="现行")
    axes.bar([p + 2 for p in positions], draft, width=2, align="edge", label="草案")
    axes.set_xticks([p + 2 for p in positions], labels)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend()


def _draw(result: dict) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 5), dpi=100)
    left, right = figure.subplots(1, 2)
    units = result["units"]
    _bars(left, [row["unit_name"] for row in units], [row["points_current"] for row in units],
          [row["points_draft"] for row in units])
    left.tick_params(axis="x", labelrotation=30)
    left.set_title(f"各单位积分 {result['period_from']}～{result['period_to']}")
    totals = result["totals"]
    _bars(right, [f"{level}星" for level in range(len(totals["stars_current"]))], totals["stars_current"],
          totals["stars_draft"])
    right.set_title("各星级志愿者人数")
    figure.suptitle(f"政策测算：{result['draft']['name']}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
