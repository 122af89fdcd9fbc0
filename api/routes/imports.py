"""Bulk import of station ledgers (台账): upload a CSV/XLSX file, then a second person approves.

`POST /imports` stores every row as a pending service record, or nothing at all (422
`import_rejected`, naming every bad row, its column and the reason).  `POST
/imports/{batch}/approve` posts the whole batch; the approver must not be the importer.
"""
from __future__ import annotations

import hashlib

from fastapi import APIRouter, File, Response, UploadFile, status

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.service import imports
from ledger.service.sheets import MAX_FILE_BYTES, too_large
from ledger.store.usecase import read

router = APIRouter(tags=["imports"])


@router.post("/imports", status_code=status.HTTP_201_CREATED)
def upload(ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response,
           file: UploadFile = File(description="台账 as .csv (UTF-8 or GB18030) or .xlsx")) -> dict:
    """Import a 台账 as pending records (all or nothing); returns the batch to approve."""
    data = file.file.read(MAX_FILE_BYTES + 1)  # never more than the limit and one byte in memory
    if len(data) > MAX_FILE_BYTES:
        raise too_large()
    filename = file.filename or "taizhang.csv"
    # the fingerprint holds a hash of the file, never its ID-card or phone numbers
    request = {"sha256": hashlib.sha256(data).hexdigest(), "filename": filename}
    return run_write(ctx, response, key=key, operation="import.create", request=request,
                     fn=lambda s: {**imports.import_taizhang(s, user, ctx.secret_key, data, filename,
                                                              ctx.local_now()).as_dict(), "status": "pending"})


@router.get("/imports/{batch}")
def summary(batch: str, ctx: CtxDep, user: CurrentUser) -> dict:
    """How many records of the batch are pending, posted, rejected or reversed."""
    return read(ctx, lambda s: imports.batch_summary(s, user, batch))


@router.post("/imports/{batch}/approve")
def approve(batch: str, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """Approve and post every pending record of the batch, in one database transaction."""
    return run_write(ctx, response, key=key, operation="import.approve", request={"batch": batch},
                     fn=lambda s: imports.approve_batch(s, user, batch))
