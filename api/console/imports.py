"""台账导入 pages: the template to download, the upload (every bad row in a table, nothing
imported), and the approval of a pending batch by a second person."""
from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from api.console import menu
from api.console.web import FormErrors, StaffDep, StaffForm, form_write, new_form_key, page, redirect, require_page
from api.deps import CtxDep
from api.i18n import chinese_message, field_label
from ledger.errors import LedgerError
from ledger.service import imports, record_lists
from ledger.service.sheets import MAX_FILE_BYTES
from ledger.service.taizhang_template import template_xlsx
from ledger.store.usecase import read, write_once

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("imports", "台账导入", "/console/imports", ("admin", "unit_admin"), order=30))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _imports_page(request, ctx, staff, *, bad_rows=None, errors: FormErrors | None = None, done: str = "",
                  status: int = 200, summary: dict | None = None):
    require_page(staff, "imports")
    batches = read(ctx, lambda s: record_lists.pending_batches(s, staff.principal))
    return page(request, "console/imports.html", staff, active="imports", batches=batches, bad_rows=bad_rows,
                errors=errors or FormErrors(), done=done, form_key=new_form_key(), summary=summary,
                max_mb=MAX_FILE_BYTES // (1024 * 1024), status=status)


@router.get("/console/imports")
def imports_page(request: Request, ctx: CtxDep, staff: StaffDep, uploaded: str = "", approved: str = ""):
    summary = None
    if uploaded.startswith("import:"):
        try:
            summary = read(ctx, lambda s: imports.batch_summary(s, staff.principal, uploaded[:60]))
        except LedgerError:
            summary = None
    done = f"批次已审核入账：{approved[:60]}" if approved else ""
    return _imports_page(request, ctx, staff, summary=summary, done=done)


@router.get("/console/imports/template.xlsx")
def template(staff: StaffDep):
    require_page(staff, "imports")
    return Response(template_xlsx(), media_type=XLSX,
                    headers={"Content-Disposition": "attachment; filename=\"taizhang-template.xlsx\"; "
                                                    "filename*=UTF-8''%E5%8F%B0%E8%B4%A6%E6%A8%A1%E6%9D%BF.xlsx"})


def _bad_rows(error: LedgerError) -> list[dict]:
    rows = (error.details or {}).get("rows") or []
    return [{"row": row.get("row"), "field": field_label(row.get("field")) or row.get("field") or "",
             "reason": chinese_message("invalid", str(row.get("reason") or ""), row.get("field"))} for row in rows]


@router.post("/console/imports")
async def upload(request: Request, ctx: CtxDep, staff: StaffForm):
    """Import the uploaded 台账 as pending records, or show every bad row and import nothing."""
    require_page(staff, "imports")
    form = await request.form()
    file = form.get("file")
    form_key = str(form.get("form_key") or "")
    errors = FormErrors()
    if not isinstance(file, UploadFile) or not file.filename:
        errors.by_field["file"] = "请选择要上传的台账文件（.xlsx 或 .csv）"
        return await run_in_threadpool(lambda: _imports_page(request, ctx, staff, errors=errors, status=422))
    data = await file.read(MAX_FILE_BYTES + 1)
    filename = file.filename

    def run():
        if len(data) > MAX_FILE_BYTES:
            errors.by_field["file"] = f"文件不能超过 {MAX_FILE_BYTES // (1024 * 1024)} MB"
            return _imports_page(request, ctx, staff, errors=errors, status=422)
        try:
            made = form_write(ctx, staff, form_key, "import.create",
                              {"sha256": hashlib.sha256(data).hexdigest(), "filename": filename},
                              lambda s: imports.import_taizhang(s, staff.principal, ctx.secret_key, data, filename,
                                                                ctx.local_now()).as_dict())
        except LedgerError as error:
            message = chinese_message(error.code, error.message, error.field, error.details)
            errors.general.append(message)
            return _imports_page(request, ctx, staff, errors=errors, bad_rows=_bad_rows(error), status=error.status)
        return redirect(f"/console/imports?uploaded={made['batch']}")

    return await run_in_threadpool(run)


@router.post("/console/imports/approve")
def approve(request: Request, ctx: CtxDep, staff: StaffForm, batch: str = ""):
    """Approve (and post) every pending record of a batch; the uploader may not."""
    require_page(staff, "imports")
    return _approve(request, ctx, staff, batch)


def _approve(request, ctx, staff, batch: str):
    try:
        write_once(ctx, lambda s: imports.approve_batch(s, staff.principal, batch[:60]))
    except LedgerError as error:
        errors = FormErrors(general=[chinese_message(error.code, error.message, error.field)])
        return _imports_page(request, ctx, staff, errors=errors, status=error.status)
    return redirect(f"/console/imports?approved={batch[:60]}")
