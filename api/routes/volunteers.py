"""Volunteers: registration, lookup, balances, history and star events."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Callable

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, bearer_token, run_write
from ledger.people import volunteers
from ledger.people.auth import principal_for_token
from ledger.store import usecase
from ledger.store.usecase import read
from ledger.volunteer_view import lookup

router = APIRouter(tags=["volunteers"])


class VolunteerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="姓名")
    home_unit_id: int
    id_number: str | None = Field(default=None, description="身份证号: stored only hashed and masked")
    phone: str | None = Field(default=None, description="联系电话: stored only hashed and masked")
    is_party_member: bool = False
    registered_on: dt.date | None = None
    team_ids: list[int] = Field(default_factory=list)


@router.post("/volunteers", status_code=status.HTTP_201_CREATED)
def register(body: VolunteerCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
             response: Response) -> dict:
    command = volunteers.RegisterVolunteer(**{**body.model_dump(), "team_ids": tuple(body.team_ids)})
    # the request fingerprint keeps only hashes of the personal numbers
    fingerprint = {**body.model_dump(mode="json"),
                   "id_number": volunteers.keyed_hash_or_none(ctx.secret_key, body.id_number),
                   "phone": volunteers.keyed_hash_or_none(ctx.secret_key, body.phone)}
    return run_write(ctx, response, key=key, operation="volunteer.register", request=fingerprint,
                     fn=lambda s: volunteers.volunteer_public(
                         volunteers.register_volunteer(s, user, ctx.secret_key, command, ctx.today())))


@router.get("/volunteers")
def list_volunteers(ctx: CtxDep, user: CurrentUser, unit_id: int | None = None,
                    number: str | None = None, limit: int = Query(50, ge=1, le=200),
                    offset: int = Query(0, ge=0)) -> list[dict]:
    return read(ctx, lambda s: volunteers.list_volunteers(s, user, unit_id=unit_id, number=number,
                                                        limit=limit, offset=offset))


@router.get("/volunteers/{volunteer_id}")
def get_volunteer(volunteer_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: volunteers.get_volunteer(s, user, volunteer_id))


TokenDep = Annotated[str, Depends(bearer_token)]


def _read_as(request: Request, token: str, fn: Callable[..., Any]) -> Any:
    """Resolve the bearer token and run the read in one unit of work (one transaction).

    The self-lookups are the most frequent requests: checking the token in the read's own
    transaction saves a second transaction and a thread hop per request over `CurrentUser`
    (same check: `ledger.people.auth.principal_for_token`).  The context comes from the app state
    directly, not through a dependency, for the same reason.  The unit of work ends with
    COMMIT (`usecase.read_autocommit`), so the statements stay prepared on the connection.
    """
    ctx = request.app.state.ctx
    return usecase.read_standby(ctx, lambda s: fn(s, principal_for_token(s, token, ctx.now())),
                                fallback=usecase.read_autocommit)


@router.get("/volunteers/{volunteer_id}/balances")
def balances(volunteer_id: int, request: Request, token: TokenDep) -> dict:
    """Hours (total, this year), points (spendable, held), star level and the way to the next."""
    today = request.app.state.ctx.today()
    return _read_as(request, token, lambda s, user: lookup.volunteer_summary(s, user, volunteer_id, today))


@router.get("/volunteers/{volunteer_id}/history")
def history(volunteer_id: int, request: Request, token: TokenDep, limit: int = Query(50, ge=1, le=200),
            before_id: int | None = None) -> dict:
    """The volunteer's transactions, newest service date first; page on with `next_before_id`."""
    return _read_as(request, token, lambda s, user: lookup.volunteer_history(
        s, user, volunteer_id, limit=limit, before_id=before_id))


@router.get("/volunteers/{volunteer_id}/stars")
def stars(volunteer_id: int, ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read(ctx, lambda s: lookup.star_history(s, user, volunteer_id))
