"""台账归档 (a station's half-year or year as a workbook and a printable PDF) and 审计 (verify in
Chinese; the audit log of who did what)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.console import menu
from api.console.units import as_page, chosen_unit, link_prefix, unit_tree
from api.console.web import FormErrors, StaffDep, StaffForm, page, require_page
from api.deps import CtxDep
from ledger.book.integrity import verify
from ledger.book.verify_words import verify_in_chinese
from ledger.errors import LedgerError, ValidationFailed
from ledger.people.access import SYSTEM_ACTOR
from ledger.service import archive, archive_files
from ledger.store.audit import ACTION_NAMES, audit_entries
from ledger.store.uow import CHINA
from ledger.store.usecase import read

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("archive", "台账归档", "/console/archive", ("admin", "unit_admin", "auditor"), order=85))
menu.register(menu.MenuItem("audit", "审计", "/console/audit", ("admin", "auditor"), order=90))
FILES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "pdf": "application/pdf"}
PAGE_SIZE = 100


@router.get("/console/archive")
def archive_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int | None = None, period: str = ""):
    """The periods a unit can be archived for, and the chosen one's totals with its downloads."""
    require_page(staff, "archive")
    errors, found = FormErrors(), None
    periods = archive.archive_periods(ctx.today())
    period = period.strip().upper() or (next((p["code"] for p in periods if p["is_complete"]), periods[0]["code"]))
    with as_page():
        tree = unit_tree(ctx, staff.principal)
        unit = chosen_unit(ctx, staff.principal, unit_id, tree)
    if unit:
        try:
            found = read(ctx, lambda s: archive.station_archive(s, staff.principal, unit["id"], period, ctx.today()))
        except LedgerError as error:
            errors.add(error, ("period",))
    return page(request, "console/archive.html", staff, status=422 if errors else 200, active="archive", tree=tree,
                unit=unit, periods=periods, period=period, found=found, errors=errors,
                prefix=link_prefix("/console/archive", period=period))


@router.get("/console/archive/download.{kind}")
def archive_download(ctx: CtxDep, staff: StaffDep, kind: str, unit_id: int, period: str) -> Response:
    """The archive as a workbook (xlsx) or a printable PDF."""
    require_page(staff, "archive")
    with as_page():
        if kind not in FILES:
            raise ValidationFailed("只能下载 xlsx 或 pdf", field="kind")
        found = read(ctx, lambda s: archive.station_archive(s, staff.principal, unit_id, period, ctx.today()))
        content = archive_files.archive_xlsx(found) if kind == "xlsx" else archive_files.archive_pdf(found)
    name = archive_files.archive_filename(found, kind)
    return Response(content, media_type=FILES[kind], headers={
        "Content-Disposition": f"attachment; filename=\"archive.{kind}\"; filename*=UTF-8''{quote(name)}"})


@router.get("/console/audit")
def audit_page(request: Request, ctx: CtxDep, staff: StaffDep, actor: str = "", action: str = "",
               before_id: int | None = None):
    """The audit log, newest first, of one actor or action if asked; and the verify button."""
    require_page(staff, "audit")
    return _audit(request, ctx, staff, actor.strip(), action.strip(), before_id, None)


def _audit(request, ctx, staff, actor: str, action: str, before_id, verdict):
    entries = read(ctx, lambda s: audit_entries(s, limit=PAGE_SIZE, before_id=before_id, actor=actor or None,
                                                action=action or None))
    for entry in entries:  # shown in China's time, as every other date of the console
        entry["actor"] = "系统" if entry["actor"] == SYSTEM_ACTOR else entry["actor"]
        entry["local_at"] = f"{dt.datetime.fromisoformat(entry['at']).astimezone(CHINA):%Y-%m-%d %H:%M:%S}"
    return page(request, "console/audit.html", staff, active="audit", entries=entries, actor=actor, action=action,
                actions=sorted(ACTION_NAMES.items(), key=lambda item: item[1]), verdict=verdict,
                older=entries[-1]["id"] if len(entries) == PAGE_SIZE else None)


@router.post("/console/audit/verify")
async def run_verify(request: Request, ctx: CtxDep, staff: StaffForm):
    """Recompute hashes, balances and the checkpoint chain now; the verdict in Chinese."""
    require_page(staff, "audit")
    report = await run_in_threadpool(lambda: read(ctx, lambda s: verify(s).as_dict()))
    return await run_in_threadpool(_audit, request, ctx, staff, "", "", None, verify_in_chinese(report))
