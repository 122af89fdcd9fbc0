"""Units (中心/所/站/点) and teams (队)."""
from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.people import org
from ledger.people.access import require_unit
from ledger.store.usecase import read

router = APIRouter(tags=["organisation"])


class UnitCreate(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="center | institute | station | point")
    parent_id: int | None = None
    population: int | None = Field(default=None, ge=0, description="常住人口, for participation rates")
    responsible_person: str | None = None
    contact: str | None = None


class TeamCreate(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    unit_id: int
    category: str = Field(min_length=1, description="服务类别, e.g. 文化文艺")
    level: str = Field(default="小队", description="总队 | 支队 | 分队 | 小队")
    parent_id: int | None = None


@router.post("/units", status_code=status.HTTP_201_CREATED)
def create_unit(body: UnitCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="unit.create", request=body.model_dump(),
                     fn=lambda s: org.create_unit(s, user, org.CreateUnit(**body.model_dump())))


@router.get("/units")
def list_units(ctx: CtxDep, user: CurrentUser, root_id: int | None = None) -> list[dict]:
    return read(ctx, lambda s: org.list_units(s, user, root_id))


@router.get("/units/{unit_id}")
def get_unit(unit_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: org.unit_public(require_unit(s, user, unit_id)))


@router.get("/units/{unit_id}/hours")
def unit_hours(unit_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """Hours served at this unit (its own account), reconciled against its postings, by volunteer."""
    return read(ctx, lambda s: org.unit_hours(s, user, unit_id))


@router.post("/teams", status_code=status.HTTP_201_CREATED)
def create_team(body: TeamCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="team.create", request=body.model_dump(),
                     fn=lambda s: org.create_team(s, user, org.CreateTeam(**body.model_dump())))


@router.get("/teams")
def list_teams(ctx: CtxDep, user: CurrentUser, unit_id: int | None = None) -> list[dict]:
    return read(ctx, lambda s: org.list_teams(s, user, unit_id))
