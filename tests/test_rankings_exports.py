"""Exports of a run and of a targets report: a workbook with a sheet per unit and the figures
behind each rank, CSV, and chart images drawn with a CJK font."""
from __future__ import annotations

import io

import pandas as pd

from ledger.people.access import SYSTEM
from ledger.rankings import exports as rank_exports, targets
from tests import test_rankings as tr, test_targets as tt


def test_ranking_workbook_csv_and_chart(ctx):
    units, v, _, _ = tr.build(ctx)
    definition = tr.define(ctx, units, unit_id=units["institute"], quota={"top_n": 1, "per": "unit"})
    run = tr.run(ctx, definition["id"])
    with ctx.uow() as uow:
        workbook = rank_exports.ranking_xlsx(uow.session, SYSTEM, run["id"])
        csv = rank_exports.ranking_csv(uow.session, SYSTEM, run["id"])
        png = rank_exports.ranking_chart(uow.session, SYSTEM, run["id"])
        buckets = rank_exports.hours_distribution(uow.session, run["id"])
    sheets = pd.read_excel(io.BytesIO(workbook), sheet_name=None)
    assert list(sheets) == ["说明", "东风村新时代文明实践站", "南岭村新时代文明实践站"]
    station_a = sheets["东风村新时代文明实践站"]
    # station A: v1 (240 min, 3 activities) first, then v5 and v2
    assert list(station_a["名称"]) == ["甲", "戊", "乙"]
    assert list(station_a["时长(分钟)"]) == [240, 240, 240] and list(station_a["交易笔数"]) == [3, 2, 2]
    assert list(station_a["入围"]) == ["是", "否", "否"]
    about = dict(zip(sheets["说明"]["项目"], sheets["说明"]["内容"]))
    assert f"台账第 {run['ledger_position']} 笔交易" in about["数据截至"]
    assert about["名额"] == "前 1 名入围，每个下级单位分别计算名额。"
    assert not any("{" in str(text) for text in about.values())  # sentences, not dicts
    text = csv.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("排名,入围,名称") and len(text.splitlines()) == 6
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # buckets of 10 hours: v4 60 min and the rest 240-300 min all fall in 0-10 h
    assert buckets == [(0, 5, 2)]
    assert rank_exports.cjk_font() is not None


def test_targets_workbook_and_chart(ctx):
    units, _, _ = tt.build(ctx)
    with ctx.uow() as uow:
        figures = targets.preview(uow.session, SYSTEM, units["institute"], "2025-Q2", tr.TODAY)
    sheets = pd.read_excel(io.BytesIO(rank_exports.targets_xlsx(figures)), sheet_name=None)
    assert list(sheets) == ["总览", "队伍集中服务", "站点每月活动", "居民参与"]
    assert sorted(sheets["队伍集中服务"]["本年累计"]) == [2, 7]
    overview = dict(zip(sheets["总览"]["指标"], sheets["总览"]["数值"]))
    assert isinstance(overview["居民参与率目标(%)"], (int, float)) and overview["人口"] == 5000
    assert rank_exports.targets_chart(figures)[:4] == b"\x89PNG"


def test_charts_without_data_say_so_and_have_no_negative_axis():
    import matplotlib.pyplot as plt

    figures = {"teams": [], "party": {"rate_percent": None, "target_percent": "80"},
               "residents": {"rate_percent": None, "target_percent": "13"},
               "hours": {"average_hours": None, "target_hours": "20"}}
    drawn = []
    original = rank_exports._png
    rank_exports._png = lambda fig: drawn.append(fig) or original(fig)
    try:
        png = rank_exports.targets_chart(figures)
    finally:
        rank_exports._png = original
    left, right = drawn[0].axes
    assert png[:4] == b"\x89PNG"
    assert [t.get_text() for t in left.texts] == ["本单位没有队伍，无集中服务数据"]
    assert left.get_ylim()[0] >= 0 and right.get_ylim()[0] == 0
    plt.close("all")
