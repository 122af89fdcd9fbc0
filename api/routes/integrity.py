"""The ledger's own health: verify, checkpoints, the audit trail."""
from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import CtxDep, CurrentUser
from ledger.access import require_role
from ledger.integrity import verify
from ledger.postings import ledger_position
from ledger.tables import AuditEntry, Checkpoint
from ledger.usecase import read

router = APIRouter(tags=["integrity"])


@router.get("/ledger/verify")
def run_verify(ctx: CtxDep, user: CurrentUser) -> dict:
    """Recompute hashes, balances and the checkpoint chain; names the first row that differs."""
    require_role(user, "admin", "auditor")
    return read(ctx, lambda s: verify(s).as_dict())


@router.get("/ledger/checkpoints")
def checkpoints(ctx: CtxDep, user: CurrentUser, limit: int = Query(50, ge=1, le=500)) -> dict:
    require_role(user, "admin", "auditor")

    def run(session):
        rows = session.execute(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(limit)).scalars()
        return {"position": ledger_position(session),
                "checkpoints": [{"period": c.period, "first_tx_id": c.first_tx_id, "last_tx_id": c.last_tx_id,
                                 "tx_count": c.tx_count, "prev_hash": c.prev_hash, "hash": c.hash}
                                for c in rows]}

    return read(ctx, run)


@router.get("/audit")
def audit(ctx: CtxDep, user: CurrentUser, limit: int = Query(100, ge=1, le=1000),
          before_id: int | None = None) -> list[dict]:
    require_role(user, "admin", "auditor")

    def run(session):
        query = select(AuditEntry)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(limit)).scalars()
        return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                 "target": e.target, "detail": e.detail} for e in rows]

    return read(ctx, run)
