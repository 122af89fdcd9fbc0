"""Publishing incentive policies (嘉许激励办法) and asking which version is in force.

A version is published for a unit and its subtree with an effective date, and never changes
afterwards (the `policy_versions` table refuses UPDATE and DELETE).  The policy in force for
a unit on a date is the newest version effective on that date at the nearest unit up the
tree that has one; with none, the built-in default applies.  A document that is malformed or
contradictory, or an effective date before a version already published for the same unit,
is refused with the exact field path and the reason, and nothing is published.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.errors import Forbidden, NotFound, PolicyInvalid
from ledger.incentives import describe, pricing
from ledger.incentives.coherence import policy_warnings
from ledger.incentives.policy import Policy
from ledger.incentives.tables import PolicyVersion
from ledger.names import clean_name
from ledger.people.access import Principal, in_scope, require_role, require_unit
from ledger.people.tables import Unit
from ledger.store.tables import AuditEntry

MAX_DOCUMENT_CHARS = 200_000


@dataclass(frozen=True)
class PublishPolicy:
    """Command: publish a policy document for a unit subtree from a date."""

    unit_id: int
    effective_from: dt.date
    document: str  # TOML text (schema: ledger/policy_document.py)


def version_public(version: PolicyVersion, unit: Unit | None = None, *, with_document: bool = False,
                   with_warnings: bool = False) -> dict:
    """A policy version as shown to clients (`with_warnings`: what it says that changes nothing)."""
    body = {"id": version.id, "unit_id": version.unit_id, "version": version.version,
            "effective_from": version.effective_from.isoformat(), "name": version.name,
            "content_hash": version.content_hash, "published_by": version.published_by,
            "published_at": version.published_at.isoformat() if version.published_at else None}
    if unit is not None:
        body["unit_code"], body["unit_name"] = unit.code, unit.name
    if with_warnings:
        body["warnings"] = policy_warnings(pricing.parse_cached(version.document))
    if with_document:
        body["document"] = version.document
        policy = pricing.parse_cached(version.document)
        body["policy"] = policy.to_dict()
        body["rules_text"] = describe.policy_text(policy)
    return body


def require_publisher(session: Session, principal: Principal, unit_id: int) -> Unit:
    """Admins, and center admins (中心管理员) for units under their center, may publish."""
    require_role(principal, "admin", "unit_admin")
    unit = require_unit(session, principal, unit_id)
    if principal.role == "unit_admin":
        own_kind = session.execute(select(Unit.kind).where(Unit.id == principal.unit_id)).scalar_one_or_none()
        if own_kind != "center":
            raise Forbidden("only an admin or a center admin (中心管理员) publishes policies", field="role")
    return unit


def parse_document(text: str) -> Policy:
    """Validate a policy document; refused with PolicyInvalid(path, reason)."""
    if not isinstance(text, str) or not text.strip():
        raise PolicyInvalid("document", "the policy document is empty")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise PolicyInvalid("document", f"longer than {MAX_DOCUMENT_CHARS} characters")
    return Policy.parse(text)


def rules_of(policy: Policy) -> dict:
    """A policy's 办法 summary in Chinese (one article per rule) and its warnings."""
    return {"name": policy.name, "content_hash": policy.content_hash(),
            "rules": [{"heading": heading, "text": text} for heading, text in describe.policy_items(policy)],
            "rules_text": describe.policy_text(policy), "warnings": policy_warnings(policy)}


def describe_document(text: str) -> dict:
    """Check a draft document and say its rules in Chinese, before anyone publishes it.

    A document that cannot do what it says is refused (PolicyInvalid with the path and the
    reason), as publishing would refuse it; what it says that changes nothing is a warning."""
    return rules_of(parse_document(text))


def publish_policy(session: Session, principal: Principal, command: PublishPolicy) -> PolicyVersion:
    """Publish a new immutable version for a unit subtree; the next version number for that unit."""
    unit = require_publisher(session, principal, command.unit_id)
    policy = parse_document(command.document)
    latest = session.execute(
        select(PolicyVersion).where(PolicyVersion.unit_id == unit.id)
        .order_by(PolicyVersion.effective_from.desc(), PolicyVersion.version.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is not None and command.effective_from < latest.effective_from:
        raise PolicyInvalid(
            "effective_from",
            f"{command.effective_from.isoformat()} is before version {latest.version} of this unit, "
            f"effective from {latest.effective_from.isoformat()}; publish a date on or after it")
    number = session.execute(
        select(func.coalesce(func.max(PolicyVersion.version), 0)).where(PolicyVersion.unit_id == unit.id)
    ).scalar_one() + 1
    version = PolicyVersion(unit_id=unit.id, version=number, effective_from=command.effective_from,
                            name=clean_name(policy.name, "policy.name", max_length=200, label="办法名称"),
                            document=command.document,
                            content_hash=policy.content_hash(), published_by=principal.username)
    session.add(version)
    session.add(AuditEntry(actor=principal.username, action="policy.publish",
                           target=f"unit:{unit.id}",
                           detail={"version": number, "effective_from": command.effective_from.isoformat(),
                                   "content_hash": version.content_hash}))
    session.flush()
    pricing.forget_policies_in_force(session)
    return version


def _readable_units(session: Session, principal: Principal, unit_id: int | None) -> list[int] | None:
    """Units whose versions the caller may list: a unit's ancestors and subtree; None = all."""
    if unit_id is None:
        if principal.sees_everything:
            return None
        if principal.unit_id is None:
            raise Forbidden("list policies of a unit: pass unit_id", field="unit_id")
        unit_id = principal.unit_id
    unit = session.get(Unit, unit_id)
    if unit is None or not (in_scope(principal, unit.path) or principal.role == "volunteer"):
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    below = select(Unit.id).where(Unit.path.startswith(unit.path))
    return sorted(set(pricing.ancestors(session, unit.id)) | set(session.execute(below).scalars()))


def list_versions(session: Session, principal: Principal, unit_id: int | None = None) -> list[dict]:
    """Published versions that apply to a unit (its ancestors') or were published under it."""
    units = _readable_units(session, principal, unit_id)
    query = select(PolicyVersion, Unit).join(Unit, Unit.id == PolicyVersion.unit_id)
    if units is not None:
        query = query.where(PolicyVersion.unit_id.in_(units))
    rows = session.execute(query.order_by(Unit.path, PolicyVersion.effective_from, PolicyVersion.version)).all()
    return [version_public(version, unit) for version, unit in rows]


def show_version(session: Session, principal: Principal, version_id: int) -> dict:
    """One version with its document and canonical form."""
    version = session.get(PolicyVersion, version_id)
    if version is None:
        raise NotFound(f"policy version {version_id} not found", field="version_id")
    units = _readable_units(session, principal, None if principal.sees_everything else principal.unit_id)
    if units is not None and version.unit_id not in units:
        raise NotFound(f"policy version {version_id} not found", field="version_id")
    return version_public(version, session.get(Unit, version.unit_id), with_document=True)


def in_force(session: Session, principal: Principal, unit_id: int, on_date: dt.date) -> dict:
    """The policy in force for a unit on a date: which version, from which unit, and its content."""
    if principal.role != "volunteer":
        require_unit(session, principal, unit_id)
    elif session.get(Unit, unit_id) is None:
        raise NotFound(f"unit {unit_id} not found", field="unit_id")
    version, policy = pricing.policy_in_force(session, unit_id, on_date)
    body = {"unit_id": unit_id, "on": on_date.isoformat(),
            "version": version_public(version, session.get(Unit, version.unit_id)) if version else None,
            "is_default": version is None, "content_hash": policy.content_hash(),
            "policy": policy.to_dict()}
    return body

