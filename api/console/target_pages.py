"""目标考核: the targets report of any unit in the tree and any finished period, with its chart
and export; changing the unit or the period replaces both (the page is drawn anew)."""
from __future__ import annotations

import base64
import datetime as dt

from fastapi import APIRouter, Request, Response

from api.console import menu
from api.console.units import as_page, chosen_unit, link_prefix, unit_tree
from api.console.web import FormErrors, StaffDep, page, require_page
from api.deps import CtxDep
from ledger.errors import LedgerError
from ledger.rankings import exports as rank_exports, targets
from ledger.store.usecase import read

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("targets", "目标考核", "/console/targets", ("admin", "unit_admin", "auditor"), order=70))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def default_period(today: dt.date) -> str:
    """The last finished quarter."""
    quarter = (today.month - 1) // 3
    return f"{today.year}-Q{quarter}" if quarter else f"{today.year - 1}-Q4"


def has_data(figures: dict) -> bool:
    """True when the report has anything to draw: teams, party members or residents."""
    return bool(figures["teams"] or figures["party"]["members"] or figures["hours"]["volunteers"])


@router.get("/console/targets")
def targets_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int | None = None,
                 period: str | None = None):
    """The report of the picked unit and period: rates against their targets, teams, stations, chart."""
    require_page(staff, "targets")
    period = (period or "").strip() or default_period(ctx.today())
    errors, figures, chart = FormErrors(), None, None
    with as_page():
        tree = unit_tree(ctx, staff.principal)
        unit = chosen_unit(ctx, staff.principal, unit_id, tree)
    if unit:
        try:
            figures = read(ctx, lambda s: targets.preview(s, staff.principal, unit["id"], period, ctx.today()))
        except LedgerError as error:
            errors.add(error, ("period",))
    if figures and has_data(figures):
        chart = base64.b64encode(rank_exports.targets_chart(figures)).decode()
    return page(request, "console/targets_report.html", staff, status=422 if errors else 200, active="targets",
                tree=tree, unit=unit, period=period, figures=figures, chart=chart, errors=errors,
                prefix=link_prefix("/console/targets", period=period))


@router.get("/console/targets/export.xlsx")
def targets_export(ctx: CtxDep, staff: StaffDep, unit_id: int, period: str) -> Response:
    """The report of this unit and period as a workbook."""
    require_page(staff, "targets")
    with as_page():
        figures = read(ctx, lambda s: targets.preview(s, staff.principal, unit_id, period, ctx.today()))
    return Response(rank_exports.targets_xlsx(figures), media_type=XLSX, headers={
        "Content-Disposition": f'attachment; filename="targets-{unit_id}-{period}.xlsx"'})
