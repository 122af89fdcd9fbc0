"""Bulk import of station ledgers (台账): all or nothing, every bad row named.

The file is parsed and validated row by row (`ledger.taizhang`); then each row is matched
against the database: the station (所属站点) must be a unit in the importer's scope, the
person is found by the keyed hash of their ID-card number (or registered at that station),
the activity is found or created, and the record must not overlap one already held.  Any
problem anywhere rejects the whole file, naming every row, and nothing is written.
Imported records are pending: a second person approves the batch, which posts it.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import ImportRejected, LedgerError, NotFound, ValidationFailed
from ledger.incentives.pricing import policy_in_force
from ledger.people.access import Principal, in_scope, require_role
from ledger.people.idcard import keyed_hash, mask_id_number, mask_phone
from ledger.people.tables import Membership, Unit, Volunteer
from ledger.people.volunteers import new_volunteer_number
from ledger.service.records import RecordService, approve_record, record_service
from ledger.service.sheets import Problems
from ledger.service.tables import Activity, ServiceRecord
from ledger.service.taizhang import TaizhangRow, column_rank, parse_taizhang
from ledger.store.tables import AuditEntry

DEFAULT_CATEGORY = "文明创建"


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: its batch label and counts."""

    batch: str
    records: int
    volunteers_created: int
    activities_created: int
    record_ids: list[int]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"batch": self.batch, "records": self.records, "volunteers_created": self.volunteers_created,
                "activities_created": self.activities_created, "record_ids": self.record_ids}


def import_taizhang(session: Session, principal: Principal, secret: bytes, data: bytes, filename: str,
                    now_local: dt.datetime) -> ImportResult:
    """Import a 台账 file as pending records; raises ImportRejected naming every bad row."""
    require_role(principal, "admin", "unit_admin")
    rows = parse_taizhang(data, filename, today=now_local.date())
    stations = _stations_in_scope(session, principal)
    problems = Problems(column_rank)
    batch = f"import:{now_local:%Y%m%d}-{secrets.token_hex(4)}"
    created = {"volunteers": 0, "activities": 0}
    record_ids: list[int] = []
    first_served: dict[str, dt.date] = {}  # a new volunteer is registered from their first service
    for row in rows:
        first_served[row.id_number] = min(first_served.get(row.id_number, row.service_date), row.service_date)
    for row in rows:
        station = stations.get(row.station_name.strip())
        if station is None:
            problems.append({"row": row.row_number, "field": "所属站点",
                             "reason": f"站点不存在或不在您的管辖范围 (unknown unit or outside your scope): "
                                       f"{row.station_name}"})
            continue
        try:
            with session.begin_nested():
                volunteer_id = _volunteer_for(session, secret, row, station, created,
                                              first_served[row.id_number])
                activity_id = _activity_for(session, principal, row, station, created)
                record = record_service(session, principal, RecordService(
                    volunteer_id=volunteer_id, activity_id=activity_id, started_at=row.started_at,
                    ended_at=row.ended_at, minutes=row.minutes, confirmed_by=row.confirmed_by or "",
                    source=batch), now_local)
                record_ids.append(record.id)
        except LedgerError as exc:
            problems.append({"row": row.row_number, "field": _column_for(exc.field), "reason": exc.message})
    if problems:
        raise problems.rejection()
    return ImportResult(batch, len(record_ids), created["volunteers"], created["activities"], record_ids)


def _column_for(field: str | None) -> str:
    return {"started_at": "开始时间", "ended_at": "结束时间", "minutes": "服务时长", "name": "姓名",
            "id_number": "身份证号", "activity_id": "活动名称", "volunteer_id": "身份证号",
            "category": "服务类别", "confirmed_by": "确认人"}.get(field or "", field or "")


def _stations_in_scope(session: Session, principal: Principal) -> dict[str, Unit]:
    units = session.execute(select(Unit)).scalars().all()
    return {unit.name: unit for unit in units if in_scope(principal, unit.path)}


def _volunteer_for(session: Session, secret: bytes, row: TaizhangRow, station: Unit, created: dict,
                   registered_on: dt.date) -> int:
    hashed = keyed_hash(row.id_number, secret)
    volunteer = session.execute(select(Volunteer).where(Volunteer.id_hash == hashed)).scalar_one_or_none()
    if volunteer is not None:
        if volunteer.name != row.name:
            raise ImportRejected(f"身份证号 {mask_id_number(row.id_number)} 已登记为另一姓名 "
                                 f"(ID number registered under another name)", field="name")
        return volunteer.id
    volunteer = Volunteer(number=new_volunteer_number(session, registered_on), name=row.name, id_hash=hashed,
                          id_masked=mask_id_number(row.id_number),
                          phone_hash=keyed_hash(row.phone, secret) if row.phone else None,
                          phone_masked=mask_phone(row.phone) if row.phone else None,
                          registered_on=registered_on, home_unit_id=station.id, status="active")
    session.add(volunteer)
    session.flush()
    session.add(Membership(volunteer_id=volunteer.id, unit_id=station.id, is_home=True,
                           valid_from=registered_on))
    created["volunteers"] += 1
    return volunteer.id


def _activity_for(session: Session, principal: Principal, row: TaizhangRow, station: Unit, created: dict) -> int:
    found = session.execute(select(Activity.id).where(
        Activity.unit_id == station.id, Activity.title == row.activity_title,
        Activity.held_on == row.service_date)).scalar_one_or_none()
    if found is not None:
        return found
    _version, policy = policy_in_force(session, station.id, row.service_date)
    if (row.category or DEFAULT_CATEGORY) not in policy.categories:
        raise ValidationFailed(f"服务类别不在嘉许激励办法中 (unknown service category): {row.category}",
                               field="category")
    activity = Activity(unit_id=station.id, title=row.activity_title, category=row.category or DEFAULT_CATEGORY,
                        held_on=row.service_date, place=station.name, tags=[], organiser=row.confirmed_by or "",
                        created_by=principal.user_id)
    session.add(activity)
    session.flush()
    created["activities"] += 1
    return activity.id


def approve_batch(session: Session, principal: Principal, batch: str) -> dict:
    """Approve (and post) every pending record of an import batch; by a second person."""
    ids = session.execute(select(ServiceRecord.id).where(
        ServiceRecord.source == batch, ServiceRecord.status == "pending").order_by(ServiceRecord.id)).scalars().all()
    if not ids:
        raise NotFound(f"no pending records in batch {batch!r}", field="batch")
    for record_id in ids:
        approve_record(session, principal, record_id)
    session.add(AuditEntry(actor=principal.username, action="import.approve", target=batch, detail={"records": len(ids)}))
    return {"batch": batch, "approved": len(ids)}


def batch_summary(session: Session, principal: Principal, batch: str) -> dict:
    """The records of an import batch that lie in scope, counted by status."""
    rows = session.execute(select(ServiceRecord.status, Unit.path, ServiceRecord.minutes)
                           .join(Unit, Unit.id == ServiceRecord.unit_id)
                           .where(ServiceRecord.source == batch)).all()
    rows = [row for row in rows if in_scope(principal, row.path)]
    if not rows or principal.role == "volunteer":
        raise NotFound(f"no records in batch {batch!r}", field="batch")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return {"batch": batch, "records": len(rows), "by_status": counts,
            "minutes": sum(int(row.minutes) for row in rows)}
