"""The audit log (审计日志): who did what, when; append-only like the ledger."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.store.tables import AuditEntry


def audit_entries(session: Session, *, limit: int, before_id: int | None = None) -> list[dict]:
    """The newest `limit` entries of the audit log (older than `before_id` when given)."""
    query = select(AuditEntry)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    rows = session.execute(query.order_by(AuditEntry.id.desc()).limit(limit)).scalars()
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "target": e.target, "detail": e.detail} for e in rows]
