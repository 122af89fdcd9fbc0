"""The ledger's own health: verify, checkpoints, the audit trail."""
from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import CtxDep, CurrentUser
from ledger.audit import verify as verify_ledger
from ledger.book.integrity import checkpoints_public
from ledger.people.access import require_role
from ledger.store.audit import audit_entries
from ledger.store.usecase import read

router = APIRouter(tags=["integrity"])


@router.get("/ledger/verify")
def run_verify(ctx: CtxDep, user: CurrentUser) -> dict:
    """Recompute hashes, balances, the signed checkpoint chain and the certificates; names the first rows that differ."""
    require_role(user, "admin", "auditor")
    return read(ctx, lambda s: verify_ledger(s, secret=ctx.secret_key).as_dict())


@router.get("/ledger/checkpoints")
def checkpoints(ctx: CtxDep, user: CurrentUser, limit: int = Query(50, ge=1, le=500)) -> dict:
    require_role(user, "admin", "auditor")

    return read(ctx, lambda s: checkpoints_public(s, limit))


@router.get("/audit")
def audit(ctx: CtxDep, user: CurrentUser, limit: int = Query(100, ge=1, le=1000),
          before_id: int | None = None) -> list[dict]:
    require_role(user, "admin", "auditor")

    return read(ctx, lambda s: audit_entries(s, limit=limit, before_id=before_id))
