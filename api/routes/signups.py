"""Recruitment, sign-up and check-in (招募/报名, 签到/签退).

Volunteers act with their own token (from /selfservice/sign-in); organisers with theirs.
The check-in code rotates (ledger.service.checkin); its QR points at /checkin?a=…&w=…&c=…,
which the volunteer's phone page reads and posts to /checkin/scan.
"""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from api.pagekit import qr_svg
from ledger.service import checkin, signup
from ledger.store.uow import CHINA
from ledger.store.usecase import read

router = APIRouter(tags=["sign-up and check-in (报名/签到)"])


class RecruitmentCreate(BaseModel):
    quota: int = Field(ge=1, le=10000, description="招募人数")
    deadline: dt.datetime = Field(description="报名截止 (local time when no zone is given)")
    team_ids: list[int] = Field(default_factory=list, description="empty: open to every volunteer of the county")
    requires_signup: bool = Field(default=True, description="签到须先报名")


class Scan(BaseModel):
    code: str = Field(min_length=1, max_length=500, description="the scanned URL (or its query)")
    direction: str = Field(pattern="^(in|out)$", description="in: 签到, out: 签退")


class ByHand(BaseModel):
    volunteer_id: int
    direction: str = Field(pattern="^(in|out)$")
    at: dt.datetime | None = Field(default=None, description="local time; default now")


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(CHINA).replace(tzinfo=None) if value is not None and value.tzinfo else value


@router.post("/activities/{activity_id}/recruitment", status_code=status.HTTP_201_CREATED)
def publish(activity_id: int, body: RecruitmentCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    """招募: open an activity for sign-up with a quota, a deadline and the teams it is open to."""
    command = signup.PublishRecruitment(quota=body.quota, deadline=body.deadline, team_ids=tuple(body.team_ids),
                                        requires_signup=body.requires_signup)
    return run_write(ctx, response, key=key, operation="recruitment.publish",
                     request={"activity_id": activity_id, **body.model_dump(mode="json")},
                     fn=lambda s: signup.publish_recruitment(s, user, activity_id, command, ctx.now()))


@router.get("/activities/{activity_id}/signups")
def signups(activity_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """The organiser's list of sign-ups, with each one's sign-in and sign-out."""
    return read(ctx, lambda s: signup.list_signups(s, user, activity_id))


@router.get("/recruitments/open")
def open_recruitments(ctx: CtxDep, user: CurrentUser) -> list[dict]:
    """For the signed-in volunteer: activities open for sign-up, and their own sign-ups."""
    return read(ctx, lambda s: signup.open_recruitments(s, user, ctx.now(), ctx.today()))


@router.post("/activities/{activity_id}/signup", status_code=status.HTTP_201_CREATED)
def sign_up(activity_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """报名 (the signed-in volunteer)."""
    return run_write(ctx, response, key=key, operation="signup.create",
                     request={"activity_id": activity_id, "volunteer_id": user.volunteer_id},
                     fn=lambda s: signup.sign_up(s, user, activity_id, ctx.now(), ctx.today()))


@router.post("/activities/{activity_id}/signup/cancel")
def cancel(activity_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """取消报名 (before signing in)."""
    return run_write(ctx, response, key=key, operation="signup.cancel",
                     request={"activity_id": activity_id, "volunteer_id": user.volunteer_id},
                     fn=lambda s: signup.cancel_signup(s, user, activity_id, ctx.now()))


@router.get("/activities/{activity_id}/checkin-code")
def code(activity_id: int, request: Request, ctx: CtxDep, user: CurrentUser) -> dict:
    """The organiser's current check-in code: the URL its QR shows, and when it rotates."""
    current = read(ctx, lambda s: checkin.activity_code(s, user, ctx.secret_key, activity_id, ctx.now()))
    return {**current, "url": str(request.base_url).rstrip("/") + current["path"]}


@router.get("/activities/{activity_id}/checkin-code.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "the QR code"}})
def code_svg(activity_id: int, request: Request, ctx: CtxDep, user: CurrentUser) -> Response:
    """The current check-in code as a QR image."""
    current = code(activity_id, request, ctx, user)
    return Response(qr_svg(current["url"]), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


@router.post("/checkin/scan")
def scan(body: Scan, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """签到/签退 by scanning the activity's code (the volunteer's own token)."""
    return run_write(ctx, response, key=key, operation="checkin.scan",
                     request={**body.model_dump(), "volunteer_id": user.volunteer_id},
                     fn=lambda s: checkin.scan(s, user, ctx.secret_key, body.code, body.direction, ctx.now(),
                                               ctx.local_now()))


@router.post("/activities/{activity_id}/attendance", status_code=status.HTTP_201_CREATED)
def by_hand(activity_id: int, body: ByHand, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    """The organiser signs a person in or out by hand."""
    return run_write(ctx, response, key=key, operation="checkin.manual",
                     request={"activity_id": activity_id, **body.model_dump(mode="json")},
                     fn=lambda s: checkin.sign_by_hand(s, user, activity_id, body.volunteer_id, body.direction,
                                                       _local(body.at), ctx.now(), ctx.local_now()))


@router.get("/activities/{activity_id}/attendance")
def attendance(activity_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """Scans, flags (missing sign-outs, impossible spans) and the records they proposed."""
    return read(ctx, lambda s: checkin.attendance(s, user, activity_id))


class Resolution(BaseModel):
    note: str = Field(min_length=1, max_length=80)


@router.post("/activities/{activity_id}/flags/{flag_id}/resolve")
def resolve_flag(activity_id: int, flag_id: int, body: Resolution, ctx: CtxDep, user: CurrentUser,
                 key: IdempotencyKeyDep, response: Response) -> dict:
    """Close a flag (missing sign-out, impossible span, overlap) after checking it."""
    return run_write(ctx, response, key=key, operation="checkin.flag.resolve",
                     request={"activity_id": activity_id, "flag_id": flag_id, **body.model_dump()},
                     fn=lambda s: checkin.resolve_flag(s, user, activity_id, flag_id, body.note, ctx.now()))
