"""Formula injection (issue 15, finding 5): a name such as `=HYPERLINK("http://x","y")` never
becomes a live formula in any export: ranking workbook and CSV, targets workbook, what-if CSV
and workbook.  Every export goes through `ledger.spreadsheet`; numbers stay numbers."""
from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from ledger.incentives import whatif
from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.rankings import exports as rank_exports, targets
from ledger.spreadsheet import safe_cell
from tests import factories as f
from tests.test_rankings import TODAY, define, person, run

HOSTILE = '=HYPERLINK("http://x","y")'
HOSTILE_ALL = [HOSTILE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)", "\t=1", "\r=1"]


def workbook_cells(data: bytes) -> list:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def assert_no_formula(data: bytes) -> list:
    cells = workbook_cells(data)
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    return [cell.value for cell in cells]


def test_the_helper_neutralises_each_formula_start_and_keeps_numbers():
    for text in HOSTILE_ALL:
        assert safe_cell(text) == "'" + text
    assert [safe_cell(v) for v in (-5, 3.5, "-5", "+1.5", "张三", "", None)] == [-5, 3.5, "-5", "+1.5", "张三", "", None]


def test_ranking_workbook_and_csv_neutralise_hostile_names(ctx):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    with ctx.uow() as uow:
        station = org.create_unit(uow.session, SYSTEM, org.CreateUnit(f.ref("S"), "@站点", "station",
                                                                      units["institute"]))
        uow.commit()
    volunteer = person(ctx, station["id"], name=HOSTILE)
    activity = f.activity(ctx, station["id"], dt.date(2025, 3, 10))
    f.served(ctx, recorder, approver, volunteer, activity, dt.datetime(2025, 3, 10, 8), 180)
    definition = define(ctx, units, name="-2025年度" + HOSTILE, unit_id=units["institute"])
    result = run(ctx, definition["id"])
    with ctx.uow() as uow:
        workbook = rank_exports.ranking_xlsx(uow.session, SYSTEM, result["id"])
        text = rank_exports.ranking_csv(uow.session, SYSTEM, result["id"]).decode("utf-8-sig")
    values = assert_no_formula(workbook)
    assert "'" + HOSTILE in values and "'@站点" in values and "'-2025年度" + HOSTILE in values
    assert 180 in values  # minutes stay numbers
    rows = list(csv.DictReader(io.StringIO(text)))
    mine = [row for row in rows if row["名称"].endswith(HOSTILE)]
    assert [row["名称"] for row in mine] == ["'" + HOSTILE] and mine[0]["所属单位"] == "'@站点"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values() if cell)


def test_targets_workbook_neutralises_hostile_team_and_unit_names(ctx):
    units = f.tree(ctx)
    with ctx.uow() as uow:
        org.create_team(uow.session, SYSTEM, org.CreateTeam(f.ref("T"), HOSTILE, units["station_a"], "文化文艺"))
        org.create_unit(uow.session, SYSTEM, org.CreateUnit(f.ref("S"), "+站", "station", units["institute"],
                                                            population=10))
        uow.commit()
    with ctx.uow() as uow:
        figures = targets.preview(uow.session, SYSTEM, units["institute"], "2025-Q2", TODAY)
    values = assert_no_formula(rank_exports.targets_xlsx(figures))
    assert "'" + HOSTILE in values and "'+站" in values


def test_what_if_csv_and_workbook_neutralise_hostile_unit_names():
    row = {key: 0 for key in whatif.COLUMNS} | {"unit_id": 7, "unit_code": "-S1", "unit_name": HOSTILE,
                                                 "points_change": -40, "stars_current": [1], "stars_draft": [1]}
    result = {"units": [row], "totals": {**row, "stars_current": [1], "stars_draft": [1]},
              "draft": {"name": HOSTILE, "content_hash": "0" * 64}, "period_from": "2025-01-01",
              "period_to": "2025-12-31"}
    rows = list(csv.DictReader(io.StringIO(whatif.to_csv(result))))
    assert (rows[0]["单位"], rows[0]["单位编码"], rows[0]["积分变化"]) == ("'" + HOSTILE, "'-S1", "-40")
    values = assert_no_formula(whatif.to_xlsx(result))
    assert "'" + HOSTILE in values and -40 in values
