"""Transfer packages between deployments (跨县转移接续): export, sign, check, import.

A package is canonical JSON (sorted keys, no spaces, UTF-8) of the volunteer's record —
identity with protected fields masked, memberships, every transaction touching the
volunteer with its content hash and all its postings, star events, totals, and the
sending policy's points rate — signed with the sending deployment's Ed25519 key.  The
envelope is `{"format", "package", "signature"}`.

Identity across deployments: keyed ID hashes differ per deployment (each has its own
secret), and anything in the package that lets a reader test candidate ID numbers (a plain
or salted hash) reveals the number, since valid 身份证号 are few enough to enumerate.  So the
package carries only the masked number, and the receiving admin types the ID number from the
volunteer's card at import: it must agree with the mask, and its local keyed hash links the
package to an existing volunteer or registers a new one.

Sending moves the volunteer's hours and points out to the peer's `deployment_minutes` /
`deployment_points` accounts (unit statistics stay), closes the memberships and marks the
volunteer as left.  Receiving checks trust, signature and every hash, carries the hours in
from `deployment_minutes`, the star level as a star event "carried from …", and the points
when the two policies agree (same points per hour), funded by the receiving home's funder.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.book import deployment_keys as keys
from ledger.book.accounts import MINUTES, POINTS, account_id, balance
from ledger.book.hashing import content_digest
from ledger.book.postings import Leg, post
from ledger.book.tables import Account, DeploymentPeer, Posting, Transaction
from ledger.errors import Conflict, NotFound, UnknownUnit, ValidationFailed
from ledger.incentives.pricing import (
    current_star_level,
    derived_star_level,
    policy_in_force,
    record_star_change,
    update_star_level,
)
from ledger.incentives.stars import StarChange
from ledger.incentives.tables import StarEvent
from ledger.names import clean_name
from ledger.people.access import Principal, require_role, require_unit
from ledger.people.idcard import mask_id_number
from ledger.people.tables import Membership, Team, Unit, Volunteer
from ledger.people.volunteers import id_hash, lock_volunteer, new_volunteer_number
from ledger.store.tables import AuditEntry
from ledger.transfers.moves import (
    check_move_date,
    funding_account_owner,
    lock_volunteer_or_none,
    open_home_membership,
    refuse_in_flight,
    visible_volunteer,
)
from ledger.transfers.package_checks import FORMAT, canonical, open_package, parse_envelope, refused
from ledger.transfers.tables import TransferPackage

VOLUNTEER_KINDS = ("volunteer_minutes", "volunteer_points", "volunteer_points_held")


# --- export ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportVolunteer:
    """Command: the volunteer leaves for another deployment; make their signed package."""

    volunteer_id: int
    to_deployment_id: str
    left_on: dt.date | None = None


def export_volunteer(session: Session, principal: Principal, command: ExportVolunteer, *, signing_key,
                     deployment_id: str, deployment_name: str, today: dt.date, now: dt.datetime) -> dict:
    """Record that the volunteer left, move their hours and points out, return the signed package."""
    require_role(principal, "admin", "unit_admin")
    volunteer = visible_volunteer(session, principal, lock_volunteer_or_none(session, command.volunteer_id),
                                  command.volunteer_id)
    if volunteer.status != "active":
        raise Conflict("the volunteer has already left this deployment", field="volunteer_id")
    peer = keys.peer_by_deployment(session, command.to_deployment_id)
    if peer is None:
        raise NotFound(f"deployment {command.to_deployment_id!r} is not a trusted peer; add its key first",
                       field="to_deployment_id")
    left_on = command.left_on or today
    home = open_home_membership(session, volunteer.id)
    check_move_date(volunteer, home, left_on, today, 0, field="left_on")
    refuse_in_flight(session, volunteer.id)
    sender = {"deployment_id": deployment_id, "name": deployment_name,
              "public_key": keys.public_key_text(signing_key)}
    home_unit_id = home.unit_id
    _close_memberships(session, volunteer.id, left_on, f"转往{peer.name or peer.deployment_id}")
    session.flush()
    body = package_body(session, volunteer, home_unit_id, left_on, peer, sender, now)
    envelope = {"format": FORMAT, "package": body, "signature": keys.sign(signing_key, canonical(body))}
    totals = body["totals"]
    tx = _post_departure(session, volunteer, home_unit_id, peer, body["package_id"], left_on, totals,
                         principal.username)
    volunteer.status = "left"
    result = {"package_id": body["package_id"], "volunteer_id": volunteer.id, "to_deployment_id": peer.deployment_id,
              "left_on": left_on.isoformat(), "minutes": totals["minutes"], "points": totals["points"],
              "star_level": totals["star_level"], "transaction_id": tx.id if tx else None}
    session.add(TransferPackage(package_id=body["package_id"], direction="out", volunteer_id=volunteer.id,
                                peer_id=peer.id, exported_at=now, moved_on=left_on,
                                body_sha256=hashlib.sha256(canonical(body)).hexdigest(),
                                envelope=canonical(envelope).decode("utf-8"), transaction_id=result["transaction_id"],
                                result={**result, "peer_deployment_id": peer.deployment_id}, actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="volunteer.export", target=f"volunteer:{volunteer.id}",
                           detail={"package_id": body["package_id"], "to": peer.deployment_id}))
    session.flush()
    return {**result, "package": envelope}


def package_body(session: Session, volunteer: Volunteer, home_unit_id: int, left_on: dt.date,
                 peer: DeploymentPeer, sender: dict, now: dt.datetime) -> dict:
    """The unsigned package: who, where they belonged, every transaction, stars, totals, rate."""
    _version, policy = policy_in_force(session, home_unit_id, left_on)
    transactions, accounts = _transactions(session, volunteer.id)
    return {
        "format": FORMAT, "package_id": f"{sender['deployment_id']}:{uuid.uuid4().hex}", "from": sender,
        "to": {"deployment_id": peer.deployment_id},
        "exported_at": now.isoformat(), "left_on": left_on.isoformat(),
        "volunteer": {"id": volunteer.id, "number": volunteer.number, "name": volunteer.name,
                      "id_type": volunteer.id_type, "id_masked": volunteer.id_masked,
                      "phone_masked": volunteer.phone_masked, "is_party_member": volunteer.is_party_member,
                      "registered_on": volunteer.registered_on.isoformat()},
        "memberships": _memberships(session, volunteer.id),
        "accounts": accounts, "transactions": transactions,
        "star_events": [{"occurred_on": e.occurred_on.isoformat(), "level_before": e.level_before,
                         "level_after": e.level_after, "reason": e.reason}
                        for e in session.execute(select(StarEvent).where(StarEvent.volunteer_id == volunteer.id)
                                                 .order_by(StarEvent.id)).scalars()],
        "totals": {"minutes": balance(session, "volunteer_minutes", volunteer.id),
                   "points": balance(session, "volunteer_points", volunteer.id),
                   "star_level": current_star_level(session, volunteer.id)},
        "policy": {"points_per_hour": str(policy.points_per_hour), "funding": policy.funding,
                   "content_hash": policy.content_hash()},
    }


def _memberships(session: Session, volunteer_id: int) -> list[dict]:
    rows = session.execute(
        select(Membership, Unit, Team).join(Unit, Unit.id == Membership.unit_id)
        .outerjoin(Team, Team.id == Membership.team_id).where(Membership.volunteer_id == volunteer_id)
        .order_by(Membership.valid_from, Membership.id)).all()
    return [{"unit_code": unit.code, "unit_name": unit.name, "team_code": team.code if team else None,
             "team_name": team.name if team else None, "is_home": m.is_home, "role": m.role,
             "valid_from": m.valid_from.isoformat(), "valid_to": m.valid_to.isoformat() if m.valid_to else None,
             "ended_reason": m.ended_reason} for m, unit, team in rows]


def _transactions(session: Session, volunteer_id: int) -> tuple[list[dict], dict]:
    """Every transaction naming the volunteer or touching their accounts, with all postings."""
    own_accounts = select(Account.id).where(Account.owner_id == volunteer_id, Account.kind.in_(VOLUNTEER_KINDS))
    touching = select(Posting.transaction_id).where(Posting.account_id.in_(own_accounts))
    txs = session.execute(select(Transaction).where(
        or_(Transaction.volunteer_id == volunteer_id, Transaction.id.in_(touching))).order_by(Transaction.id)).scalars().all()
    postings: dict[int, list[dict]] = {tx.id: [] for tx in txs}
    account_ids: set[int] = set()
    for start in range(0, len(txs), 500):
        ids = [tx.id for tx in txs[start:start + 500]]
        for p in session.execute(select(Posting).where(Posting.transaction_id.in_(ids)).order_by(Posting.id)).scalars():
            postings[p.transaction_id].append({"account_id": p.account_id, "uom": p.uom, "amount": int(p.amount),
                                               "volunteer_id": p.volunteer_id, "unit_id": p.unit_id})
            account_ids.add(p.account_id)
    accounts = {str(a.id): {"kind": a.kind, "owner_id": a.owner_id, "uom": a.uom}
                for a in session.execute(select(Account).where(Account.id.in_(account_ids))).scalars()}
    items = [{"id": tx.id, "kind": tx.kind, "idempotency_key": tx.idempotency_key,
              "occurred_on": tx.occurred_on.isoformat(), "actor": tx.actor, "volunteer_id": tx.volunteer_id,
              "unit_id": tx.unit_id, "policy_version_id": tx.policy_version_id, "reverses_id": tx.reverses_id,
              "service_record_id": tx.service_record_id, "memo": tx.memo, "postings": postings[tx.id]}
             for tx in txs]
    for item in items:  # the unkeyed digest, which the receiver can recompute (our hashes are keyed)
        item["content_hash"] = content_digest(item, item["postings"])
    return items, accounts


def _post_departure(session: Session, volunteer: Volunteer, home_unit_id: int, peer: DeploymentPeer,
                    package_id: str, left_on: dt.date, totals: dict, actor: str) -> Transaction | None:
    """Hours and points leave with the volunteer, to the peer's deployment accounts."""
    minutes, points = totals["minutes"], totals["points"]
    if minutes == 0 and points == 0:
        return None
    legs = [Leg(account_id(session, "volunteer_minutes", volunteer.id), MINUTES, -minutes, volunteer.id, home_unit_id),
            Leg(account_id(session, "deployment_minutes", peer.id), MINUTES, minutes, volunteer.id, None),
            Leg(account_id(session, "volunteer_points", volunteer.id), POINTS, -points, volunteer.id, home_unit_id),
            Leg(account_id(session, "deployment_points", peer.id), POINTS, points, volunteer.id, None)]
    return post(session, kind="transfer_out", key=f"export:{package_id}", occurred_on=left_on, actor=actor,
                legs=legs, volunteer_id=volunteer.id, unit_id=home_unit_id,
                memo=f"转出至 {peer.deployment_id}（转移包 {package_id}）")


def _close_memberships(session: Session, volunteer_id: int, on: dt.date, reason: str) -> None:
    for membership in session.execute(select(Membership).where(
            Membership.volunteer_id == volunteer_id, Membership.valid_to.is_(None))).scalars():
        membership.valid_to = max(on, membership.valid_from)
        membership.ended_reason = reason[:200]


# --- import ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportPackage:
    """Command: a volunteer arrives from another deployment with a signed package."""

    package: Any  # the envelope: canonical JSON text/bytes, or the parsed object
    home_unit_id: int
    id_number: str | None = None  # typed from the volunteer's ID card; links by local keyed hash
    arrived_on: dt.date | None = None


def import_package(session: Session, principal: Principal, command: ImportPackage, *, secret: bytes,
                   deployment_id: str, today: dt.date, future_limit_days: int) -> dict:
    """Check and import a package; the same package again changes nothing."""
    require_role(principal, "admin", "unit_admin")
    body, peer = open_package(command.package, lambda d: keys.peer_by_deployment(session, d), deployment_id)
    digest = hashlib.sha256(canonical(body)).hexdigest()
    previous = session.execute(select(TransferPackage).where(
        TransferPackage.package_id == body["package_id"])).scalar_one_or_none()
    if previous is not None:
        if previous.direction == "in" and previous.body_sha256 == digest:
            return {**previous.result, "already_imported": True}
        raise refused("package_id_reused", f"package {body['package_id']} was already seen with other content")
    home = require_unit(session, principal, command.home_unit_id, field="home_unit_id", error=UnknownUnit)
    arrived_on = _arrival_date(body, command.arrived_on, today, future_limit_days)
    volunteer, created = _link_volunteer(session, principal, body, command, secret, home.id, arrived_on)
    tx, points_carried, points_note = _post_arrival(session, body, peer, volunteer, arrived_on, principal.username)
    star_level = _carry_star(session, body, volunteer.id, arrived_on, tx)
    result = {"package_id": body["package_id"], "volunteer_id": volunteer.id, "created": created,
              "peer_deployment_id": peer.deployment_id, "from_deployment_name": body["from"]["name"],
              "home_unit_id": volunteer.home_unit_id, "arrived_on": arrived_on.isoformat(),
              "minutes_carried": body["totals"]["minutes"], "points_carried": points_carried,
              "points_note": points_note, "star_level": star_level, "transaction_id": tx.id if tx else None,
              "memberships_elsewhere": body["memberships"], "already_imported": False}
    session.add(TransferPackage(package_id=body["package_id"], direction="in", volunteer_id=volunteer.id,
                                peer_id=peer.id, exported_at=_aware(dt.datetime.fromisoformat(body["exported_at"])),
                                moved_on=arrived_on, body_sha256=digest,
                                envelope=canonical({"format": FORMAT, "package": body,
                                                    "signature": _signature_of(command.package)}).decode("utf-8"),
                                transaction_id=result["transaction_id"], result=result, actor=principal.username))
    session.add(AuditEntry(actor=principal.username, action="volunteer.import", target=f"volunteer:{volunteer.id}",
                           detail={"package_id": body["package_id"], "from": peer.deployment_id}))
    session.flush()
    return result


def _signature_of(raw: Any) -> str:
    return parse_envelope(raw)["signature"]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _arrival_date(body: dict, arrived_on: dt.date | None, today: dt.date, future_limit_days: int) -> dt.date:
    left_on = dt.date.fromisoformat(body["left_on"])
    arrived_on = arrived_on or max(today, left_on)
    if arrived_on < left_on:
        raise ValidationFailed(f"arrived_on is before the volunteer left ({left_on.isoformat()})", field="arrived_on")
    if arrived_on > today + dt.timedelta(days=future_limit_days):
        raise ValidationFailed(f"arrived_on is more than {future_limit_days} days in the future", field="arrived_on")
    return arrived_on


def _link_volunteer(session: Session, principal: Principal, body: dict, command: ImportPackage, secret: bytes,
                    home_unit_id: int, arrived_on: dt.date) -> tuple[Volunteer, bool]:
    """The local volunteer with the same ID-card hash (reactivated if they had left), or a new one."""
    ident = body["volunteer"]
    hashed = None
    if ident.get("id_masked"):
        if not command.id_number:
            raise ValidationFailed(f"type the volunteer's ID number (the package shows {ident['id_masked']}) "
                                   f"to link them", field="id_number")
        hashed = id_hash(secret, command.id_number)
        if mask_id_number(command.id_number) != ident["id_masked"]:
            raise ValidationFailed(f"the ID number does not match the package ({ident['id_masked']})",
                                   field="id_number")
        existing_id = session.execute(select(Volunteer.id).where(Volunteer.id_hash == hashed)).scalar_one_or_none()
        if existing_id is not None:
            return _relink(session, principal, body, lock_volunteer(session, existing_id), home_unit_id,
                           arrived_on), False
    volunteer = Volunteer(number=new_volunteer_number(session, arrived_on),
                          name=clean_name(ident["name"], "package.volunteer.name", label="姓名"),
                          id_type=ident["id_type"], id_hash=hashed, id_masked=ident.get("id_masked"),
                          phone_masked=ident.get("phone_masked"), is_party_member=bool(ident["is_party_member"]),
                          registered_on=dt.date.fromisoformat(ident["registered_on"]), home_unit_id=home_unit_id,
                          status="active")
    session.add(volunteer)
    session.flush()
    session.add(Membership(volunteer_id=volunteer.id, unit_id=home_unit_id, is_home=True, valid_from=arrived_on))
    return volunteer, True


def _relink(session: Session, principal: Principal, body: dict, volunteer: Volunteer, home_unit_id: int,
            arrived_on: dt.date) -> Volunteer:
    """An existing volunteer: refuse a stale package, then reactivate or keep their home."""
    exported_at = _aware(dt.datetime.fromisoformat(body["exported_at"]))
    for other in session.execute(select(TransferPackage).where(TransferPackage.volunteer_id == volunteer.id)).scalars():
        if _aware(other.exported_at) > exported_at:
            raise refused("superseded", f"the volunteer already has a later transfer ({other.package_id}, "
                                        f"{other.direction}, exported {_aware(other.exported_at).isoformat()}); "
                                        f"this package is older", field="package.exported_at")
    refuse_in_flight(session, volunteer.id)
    if volunteer.status == "active":
        visible_volunteer(session, principal, volunteer, volunteer.id)
        return volunteer
    last_end = session.execute(select(Membership.valid_to).where(
        Membership.volunteer_id == volunteer.id, Membership.is_home.is_(True))
        .order_by(Membership.valid_to.desc()).limit(1)).scalar_one_or_none()
    if last_end is not None and last_end > arrived_on:
        raise ValidationFailed(f"the volunteer's last membership here ended on {last_end.isoformat()}; "
                               f"arrived_on must not be earlier", field="arrived_on")
    volunteer.status, volunteer.home_unit_id = "active", home_unit_id
    session.add(Membership(volunteer_id=volunteer.id, unit_id=home_unit_id, is_home=True, valid_from=arrived_on))
    session.flush()
    return volunteer


def _post_arrival(session: Session, body: dict, peer: DeploymentPeer, volunteer: Volunteer, arrived_on: dt.date,
                  actor: str) -> tuple[Transaction | None, int, str]:
    """Carry hours in from the peer; points too when both policies price an hour the same."""
    minutes, points = body["totals"]["minutes"], body["totals"]["points"]
    home = volunteer.home_unit_id
    _version, policy = policy_in_force(session, home, arrived_on)
    theirs = Decimal(str(body["policy"]["points_per_hour"]))
    agree = theirs == policy.points_per_hour
    carried = points if agree else 0
    note = ("两地激励办法每小时积分相同，积分一并转入" if agree else
            f"积分未转入：对方每小时 {theirs} 积分，本地每小时 {policy.points_per_hour} 积分")
    legs = [Leg(account_id(session, "volunteer_minutes", volunteer.id), MINUTES, minutes, volunteer.id, home),
            Leg(account_id(session, "deployment_minutes", peer.id), MINUTES, -minutes, volunteer.id, None)]
    if carried:
        funder = funding_account_owner(session, home, arrived_on)
        legs += [Leg(account_id(session, "volunteer_points", volunteer.id), POINTS, carried, volunteer.id, home),
                 Leg(account_id(session, "unit_points_issued", funder), POINTS, -carried, volunteer.id, funder)]
    if minutes == 0 and carried == 0:
        return None, 0, note
    tx = post(session, kind="transfer_in", key=f"import:{body['package_id']}", occurred_on=arrived_on, actor=actor,
              legs=legs, volunteer_id=volunteer.id, unit_id=home,
              memo=f"自 {peer.deployment_id} 转入（转移包 {body['package_id']}）；{note}")
    return tx, carried, note


def _carry_star(session: Session, body: dict, volunteer_id: int, arrived_on: dt.date,
                tx: Transaction | None) -> int:
    """The star level continues: carried as an event, never lowered by the move."""
    before, carried = current_star_level(session, volunteer_id), body["totals"]["star_level"]
    tx_id = tx.id if tx else None
    if carried > before:
        origin = f"{body['from']['name']} ({body['from']['deployment_id']})"
        record_star_change(session, StarChange(volunteer_id, arrived_on, before, carried, tx_id, None,
                                               f"carried from {origin}"[:200]))
    derived, _version = derived_star_level(session, volunteer_id, arrived_on)
    if derived > max(before, carried):
        update_star_level(session, volunteer_id, arrived_on, tx_id, reason="hours carried in")
    return current_star_level(session, volunteer_id)


def list_packages(session: Session, principal: Principal, direction: str | None = None,
                  limit: int = 100) -> list[dict]:
    """Packages sent and received, newest first (admins and auditors)."""
    require_role(principal, "admin", "auditor")
    query = select(TransferPackage, DeploymentPeer.deployment_id).join(
        DeploymentPeer, DeploymentPeer.id == TransferPackage.peer_id)
    if direction:
        query = query.where(TransferPackage.direction == direction)
    rows = session.execute(query.order_by(TransferPackage.id.desc()).limit(limit)).all()
    return [{"package_id": p.package_id, "direction": p.direction, "volunteer_id": p.volunteer_id,
             "peer_deployment_id": peer, "moved_on": p.moved_on.isoformat(),
             "exported_at": _aware(p.exported_at).isoformat(), "transaction_id": p.transaction_id}
            for p, peer in rows]


def get_package(session: Session, principal: Principal, package_id: str) -> dict:
    """One package sent or received, with its signed envelope (to send again)."""
    require_role(principal, "admin", "auditor", "unit_admin")
    row = session.execute(select(TransferPackage).where(TransferPackage.package_id == package_id)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"package {package_id} not found", field="package_id")
    visible_volunteer(session, principal, session.get(Volunteer, row.volunteer_id), row.volunteer_id)
    return {"package_id": row.package_id, "direction": row.direction, "volunteer_id": row.volunteer_id,
            "result": row.result, "package": json.loads(row.envelope)}
