"""Exports for the selection committee: Excel (a sheet per unit), CSV, and chart images.

The figures come from the stored snapshot (entries) or targets report; pandas only shapes
them into sheets, and the hours distribution is bucketed in SQL, so a chart of a million
volunteers never loads them.  Charts use matplotlib's Agg backend and a CJK font found by
`matplotlib.font_manager` (Noto Sans CJK or WenQuanYi Zen Hei, installed by
scripts/setup-system.sh).  Amounts stay integers: hours are drawn from minutes.
"""
from __future__ import annotations

import io
from decimal import Decimal
from functools import lru_cache
from itertools import chain

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from sqlalchemy import case, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ledger.people.access import Principal
from ledger.people.tables import Unit
from ledger.rankings import describe, runs as rankings
from ledger.rankings.tables import RankingDefinition, RankingEntry
from ledger.spreadsheet import csv_text, xlsx_bytes

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Noto Serif CJK SC")
COLUMNS = {"rank": "排名", "is_shortlisted": "入围", "subject_name": "名称", "subject_number": "编号",
           "unit_name": "所属单位", "hours": "时长(小时)", "minutes": "时长(分钟)", "points": "积分",
           "activities": "活动次数", "rating": "评单平均分", "rating_count": "评单次数",
           "tx_count": "交易笔数", "year_hours": "本年度时长(小时)", "star_level": "星级",
           "threshold_on": "达到条件日期", "last_service_on": "最后服务日期",
           "is_eligible": "符合条件", "reasons": "不符合原因", "subject_id": "ID", "basis_label": "统计口径"}
BUCKET_MINUTES = 600  # 10 hours per bar of the distribution


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed CJK font, or None (then Chinese shows as boxes)."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    return None


def _figure(width: int, height: int):
    font = cjk_font()
    if font:
        plt.rcParams["font.family"] = [font]
    plt.rcParams["axes.unicode_minus"] = False
    return plt.subplots(1, 2, figsize=(width, height))


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _unit_names(session: Session, ids) -> dict[int, str]:
    rows = session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(list(ids)))).all()
    return {unit_id: name for unit_id, name in rows}


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if c in "[]:*?/\\" else c for c in name)[:28] or "单位"
    candidate, n = clean, 2
    while candidate in used:
        candidate, n = f"{clean[:25]}({n})", n + 1
    used.add(candidate)
    return candidate


def _frame(rows: list[dict], names: dict[int, str], basis_label: str) -> pd.DataFrame:
    """Entries as a sheet; every row says how far it counts (a cut-off run: 截至…，非最终结果)."""
    for row in rows:
        row["basis_label"] = basis_label
        row["unit_name"] = names.get(row["group_unit_id"], "")
        row["reasons"] = "、".join(row["reasons"])
        row["is_shortlisted"] = "是" if row["is_shortlisted"] else "否"
        row["is_eligible"] = "是" if row["is_eligible"] else "否"
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.rename(columns=COLUMNS)


def _about(session: Session, run: dict) -> pd.DataFrame:
    """The 说明 sheet: what was ranked and how, in sentences (`describe`), then the run's figures."""
    definition = session.get(RankingDefinition, run["definition_id"])
    doc = definition.document
    items = [("评选名称", definition.name), ("定义编码", f"{definition.code}（第 {definition.version} 版）"),
             ("范围单位", _unit_names(session, [definition.unit_id]).get(definition.unit_id, "")),
             ("期间", f"{run['period']}（{run['period_start']} 至 {run['period_end']}）"),
             ("统计口径", run["basis_label"]),
             *describe.definition_items(doc),
             ("人数", f"候选 {run['candidates']} 人，符合条件 {run['eligible']} 人，入围 {run['shortlisted']} 人。"),
             ("数据截至", f"台账第 {run['ledger_position']} 笔交易（含）为止；以同一位置重算，结果相同。"),
             ("快照哈希", run["entries_hash"]), ("已发布", "是" if run["is_published"] else "否"),
             ("被替代", f"已被第 {run['superseded_by']} 次评选替代" if run["superseded_by"] else "否")]
    return pd.DataFrame(items, columns=["项目", "内容"])


def ranking_xlsx(session: Session, principal: Principal, run_id: int) -> bytes:
    """The run as a workbook: an overview sheet, then one sheet per quota group (unit)."""
    run = rankings.run_public(session, rankings.require_run(session, principal, run_id))
    groups = session.execute(select(RankingEntry.group_unit_id).where(RankingEntry.run_id == run_id)
                             .distinct().order_by(RankingEntry.group_unit_id)).scalars().all()
    names = _unit_names(session, groups)
    used: set[str] = set()
    per_unit = ((_sheet_name(names.get(group, str(group)), used), _frame(_group_rows(session, run_id, group), names,
                                                                              run["basis_label"]))
                for group in groups)  # one unit's rows at a time
    return xlsx_bytes(chain([(_sheet_name("说明", used), _about(session, run))], per_unit))


def _group_rows(session: Session, run_id: int, group: int) -> list[dict]:
    query = (select(RankingEntry).where(RankingEntry.run_id == run_id, RankingEntry.group_unit_id == group)
             .order_by(RankingEntry.is_eligible.desc(), RankingEntry.rank, RankingEntry.minutes.desc(),
                       RankingEntry.subject_id))
    return [rankings.entry_public(e) for e in session.execute(query).scalars()]


def ranking_csv(session: Session, principal: Principal, run_id: int) -> bytes:
    """Every entry as CSV (UTF-8 with BOM, so Excel shows the Chinese)."""
    run = rankings.run_public(session, rankings.require_run(session, principal, run_id))
    rows = rankings.run_entries(session, principal, run_id)
    groups = {row["group_unit_id"] for row in rows}
    frame = _frame(rows, _unit_names(session, groups), run["basis_label"])
    return csv_text(frame).encode("utf-8-sig")


def hours_distribution(session: Session, run_id: int) -> list[tuple[int, int, int]]:
    """(bucket start in minutes, candidates, shortlisted) per 10-hour bucket, counted in SQL."""
    bucket = case((RankingEntry.minutes < 0, 0), else_=RankingEntry.minutes // BUCKET_MINUTES)
    rows = session.execute(
        select(bucket.label("bucket"), func.count(),
               func.sum(case((RankingEntry.is_shortlisted.is_(True), 1), else_=0)))
        .where(RankingEntry.run_id == run_id).group_by(bucket).order_by(bucket)).all()
    return [(int(b) * BUCKET_MINUTES, int(n), int(s or 0)) for b, n, s in rows]


def ranking_chart(session: Session, principal: Principal, run_id: int) -> bytes:
    """A PNG: the distribution of hours (all candidates) and the shortlisted's hours."""
    run = rankings.run_public(session, rankings.require_run(session, principal, run_id))
    buckets = hours_distribution(session, run_id)
    shortlisted = rankings.run_entries(session, principal, run_id, only_shortlisted=True)[:30]
    fig, (left, right) = _figure(12, 5)
    labels = [f"{start // 60}-{(start + BUCKET_MINUTES) // 60}" for start, _, _ in buckets]
    left.bar(range(len(buckets)), [n for _, n, _ in buckets], color="#9db4d6", label="候选")
    left.bar(range(len(buckets)), [s for _, _, s in buckets], color="#c0392b", label="入围")
    left.set_xticks(range(len(buckets)), labels, rotation=45, fontsize=8)
    left.set_ylim(bottom=0)
    if not buckets:
        no_data(left, "没有候选人")
    left.set_xlabel("时长(小时)")
    left.set_ylabel("人数")
    left.set_title(f"{run['period']} 时长分布 · {run['basis_label']}")
    left.legend()
    names = [f"{e['rank']}. {e['subject_name']}" for e in shortlisted][::-1]
    right.barh(range(len(names)), [e["minutes"] for e in shortlisted][::-1], color="#c0392b")
    right.set_yticks(range(len(names)), names, fontsize=8)
    most = max([e["minutes"] for e in shortlisted] + [60])
    step = next(h for h in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**6) if most // (h * 60) <= 8)
    ticks = list(range(0, most + step * 60, step * 60))
    right.set_xticks(ticks, [str(t // 60) for t in ticks])
    right.set_xlabel("时长(小时)")
    right.set_xlim(left=0)
    right.set_title(f"入围名单 ({run['shortlisted']})")
    if not shortlisted:
        no_data(right, "没有入围者")
    return _png(fig)


def targets_xlsx(figures: dict) -> bytes:
    """A targets report as a workbook: overview, teams, stations, residents by unit."""
    party, hours, residents = figures["party"], figures["hours"], figures["residents"]
    overview = pd.DataFrame([
        ("单位", figures["unit_name"]), ("期间", figures["period"]),
        ("统计口径", figures.get("basis_label", f"全期（至 {figures['period_end']}）")),
        ("累计起始", figures["year_to_date_from"]), ("台账位置", figures["ledger_position"]),
        ("党员参与率(%)", _number(party["rate_percent"])), ("党员参与率目标(%)", _number(party["target_percent"])),
        ("党员人数", party["members"]), ("参与服务的党员", party["served"]),
        ("人均时长(小时)", _number(hours["average_hours"])), ("人均时长目标(小时)", _number(hours["target_hours"])),
        ("注册志愿者", hours["volunteers"]), ("总时长(小时)", _number(hours["hours"])),
        ("居民参与率(%)", _number(residents["rate_percent"])),
        ("居民参与率目标(%)", _number(residents["target_percent"])),
        ("参与服务的居民", residents["served"]), ("人口", residents["population"]),
    ], columns=["指标", "数值"])
    teams = pd.DataFrame(figures["teams"]).rename(columns={
        "team_id": "队伍ID", "name": "队伍", "unit_id": "单位ID", "in_period": "本期集中服务",
        "year_to_date": "本年累计", "target_year_to_date": "累计目标", "target_year": "全年目标", "is_met": "达标"})
    stations = pd.DataFrame([{"站点": s["name"], "无活动月份": "、".join(s["months_without_activity"]),
                              "达标": s["is_met"]} for s in figures["stations"]])
    by_unit = [{**row, "rate_percent": _number(row["rate_percent"]), "target_percent": _number(row["target_percent"])}
               for row in residents["by_unit"]]
    residents = pd.DataFrame(by_unit).rename(columns={
        "unit_id": "单位ID", "name": "单位", "served": "参与人数", "population": "人口",
        "rate_percent": "参与率(%)", "target_percent": "目标(%)", "is_met": "达标"})
    return xlsx_bytes([("总览", overview), ("队伍集中服务", teams), ("站点每月活动", stations),
                       ("居民参与", residents)])


def _number(text) -> Decimal | None:
    """A figure the report keeps as text ("62.5") as a number for the cell; unknown stays blank."""
    return None if text is None or text == "" else Decimal(str(text))


def targets_chart(figures: dict) -> bytes:
    """A PNG: concentrated services per team against the target, and the rates against theirs."""
    fig, (left, right) = _figure(12, 5)
    teams = figures["teams"]
    if teams:
        left.bar(range(len(teams)), [t["year_to_date"] for t in teams],
                 color=["#27ae60" if t["is_met"] else "#c0392b" for t in teams])
        left.axhline(teams[0]["target_year_to_date"], color="#333", linestyle="--", label="累计目标")
        left.legend()
        left.set_xticks(range(len(teams)), [t["name"] for t in teams], rotation=30, fontsize=8)
        left.set_ylim(bottom=0)
    else:
        no_data(left, "本单位没有队伍，无集中服务数据")
    left.set_title(f"队伍集中服务(本年累计 · {figures.get('basis_label', '全期')})")
    labels = ["党员参与率", "居民参与率"]
    values = [figures["party"]["rate_percent"], figures["residents"]["rate_percent"]]
    goals = [figures["party"]["target_percent"], figures["residents"]["target_percent"]]
    right.bar([0, 1], [int(round_percent(v)) for v in values], color="#2980b9", label="实际(%)")
    right.scatter([0, 1], [int(round_percent(g)) for g in goals], color="#c0392b", marker="_", s=900,
                  label="目标(%)")
    right.set_xticks([0, 1], labels)
    right.set_ylim(0, max([100] + [int(round_percent(v)) for v in values + goals]) + 5)
    right.set_title(f"人均时长 {figures['hours']['average_hours'] or 0} 小时 (目标 {figures['hours']['target_hours']})")
    right.legend()
    return _png(fig)


def no_data(axes, text: str) -> None:
    """An empty chart that says so, instead of an axis around nothing (or below zero)."""
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, fontsize=12, color="#666")


def round_percent(value: str | None) -> int:
    """A percentage string as a whole number for drawing (0 when unknown)."""
    if not value:
        return 0
    whole, _, fraction = value.partition(".")
    return int(whole) + (1 if fraction[:1] and int(fraction[:1]) >= 5 else 0)
