"""Joining from the phone (实名注册): the public application and the station's queue."""
from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.people import applications
from ledger.people.volunteers import keyed_hash_or_none
from ledger.store.usecase import read

router = APIRouter(tags=["applications (实名注册)"])


class ApplicationCreate(BaseModel):
    unit_id: int = Field(description="the station to join")
    name: str = Field(min_length=1, max_length=100, description="真实姓名")
    id_number: str = Field(min_length=1, max_length=40, description="身份证号: stored only hashed and masked")
    phone: str | None = Field(default=None, max_length=40)
    challenge: str = Field(max_length=200)
    challenge_answer: str = Field(max_length=10)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=400)


@router.post("/public/applications", status_code=status.HTTP_201_CREATED)
def apply(body: ApplicationCreate, request: Request, ctx: CtxDep, key: IdempotencyKeyDep,
          response: Response) -> dict:
    """Apply to join a station with a real name and ID number; the station confirms."""
    address = request.client.host if request.client else None
    fingerprint = {**body.model_dump(), "id_number": keyed_hash_or_none(ctx.secret_key, body.id_number),
                   "phone": keyed_hash_or_none(ctx.secret_key, body.phone)}
    command = applications.Apply(unit_id=body.unit_id, name=body.name, id_number=body.id_number, phone=body.phone)
    return run_write(ctx, response, key=key, operation="application.create", request=fingerprint,
                     fn=lambda s: applications.apply(s, ctx.secret_key, command, now=ctx.now(), today=ctx.today(),
                                                     client_address=address, challenge=body.challenge,
                                                     answer=body.challenge_answer,
                                                     per_address=int(ctx.options.get(
                                                         "applications_per_address_per_hour")
                                                         or applications.PER_ADDRESS_PER_HOUR)))


@router.get("/applications")
def queue(ctx: CtxDep, user: CurrentUser, status_: str | None = Query("pending", alias="status")) -> list[dict]:
    return read(ctx, lambda s: applications.list_applications(s, user, status_ or None))


@router.post("/applications/{application_id}/confirm")
def confirm(application_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """The station confirms: the applicant becomes a volunteer."""
    return run_write(ctx, response, key=key, operation="application.confirm", request={"id": application_id},
                     fn=lambda s: applications.confirm(s, user, application_id, ctx.now(), ctx.today()))


@router.post("/applications/{application_id}/refuse")
def refuse(application_id: int, body: Reason, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="application.refuse",
                     request={"id": application_id, **body.model_dump()},
                     fn=lambda s: applications.refuse(s, user, application_id, body.reason, ctx.now()))
