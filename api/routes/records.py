"""Activities and service records: record, approve (posts), reject, reverse."""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.service import activities, records as service_records
from ledger.store.uow import CHINA
from ledger.store.usecase import read

router = APIRouter(tags=["service records"])


class ActivityCreate(BaseModel):
    unit_id: int
    title: str = Field(min_length=1, max_length=200, description="活动名称")
    category: str = Field(min_length=1, description="服务类别")
    held_on: dt.date
    team_id: int | None = None
    place: str = ""
    tags: list[str] = Field(default_factory=list, description="e.g. [\"应急\"]")
    is_concentrated: bool = Field(default=False, description="集中服务")
    organiser: str = ""


class ServiceRecordCreate(BaseModel):
    volunteer_id: int
    activity_id: int
    started_at: dt.datetime = Field(description="local time (Asia/Shanghai), e.g. 2026-11-20T09:00")
    ended_at: dt.datetime
    minutes: int | None = Field(default=None, description="actual service minutes, travel excluded; "
                                                          "defaults to the time between start and end")
    confirmed_by: str = Field(default="", description="确认人: organiser or the person served")
    service_kind: str | None = None


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=400)


def _local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(CHINA).replace(tzinfo=None) if value.tzinfo else value


@router.post("/activities", status_code=status.HTTP_201_CREATED)
def create_activity(body: ActivityCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                    response: Response) -> dict:
    command = activities.CreateActivity(**{**body.model_dump(), "tags": tuple(body.tags)})
    return run_write(ctx, response, key=key, operation="activity.create", request=body.model_dump(mode="json"),
                     fn=lambda s: activities.activity_public(
                         activities.create_activity(s, user, command, user.user_id)))


@router.get("/activities")
def list_activities(ctx: CtxDep, user: CurrentUser, unit_id: int | None = None,
                    limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0)) -> list[dict]:
    return read(ctx, lambda s: activities.list_activities(s, user, unit_id, limit, offset))


@router.post("/service-records", status_code=status.HTTP_201_CREATED)
def record(body: ServiceRecordCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    command = service_records.RecordService(**{**body.model_dump(), "started_at": _local(body.started_at),
                                               "ended_at": _local(body.ended_at)})
    return run_write(ctx, response, key=key, operation="record.create", request=body.model_dump(mode="json"),
                     fn=lambda s: service_records.record_public(
                         service_records.record_service(s, user, command, ctx.local_now())))


@router.get("/service-records")
def list_records(ctx: CtxDep, user: CurrentUser, status_: str | None = Query(None, alias="status"),
                 volunteer_id: int | None = None, unit_id: int | None = None,
                 limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0)) -> list[dict]:
    return read(ctx, lambda s: service_records.list_records(s, user, status=status_, volunteer_id=volunteer_id,
                                                           unit_id=unit_id, limit=limit, offset=offset))


@router.get("/service-records/{record_id}")
def get_record(record_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: service_records.record_public(service_records.require_record(s, user, record_id)))


@router.post("/service-records/{record_id}/approve")
def approve(record_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="record.approve", request={"record_id": record_id},
                     fn=lambda s: service_records.record_public(
                         service_records.approve_record(s, user, record_id)))


@router.post("/service-records/{record_id}/reject")
def reject(record_id: int, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="record.reject",
                     request={"record_id": record_id, **body.model_dump()},
                     fn=lambda s: service_records.record_public(
                         service_records.reject_record(s, user, record_id, body.reason)))


@router.post("/service-records/{record_id}/reverse")
def reverse(record_id: int, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="record.reverse",
                     request={"record_id": record_id, **body.model_dump()},
                     fn=lambda s: service_records.record_public(
                         service_records.reverse_record(s, user, record_id, body.reason, ctx.today())))
