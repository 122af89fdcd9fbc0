"""Users and tokens; `GET /me` tells a token who it is."""
from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.errors import NotFound
from ledger.people import auth
from ledger.people.access import require_role, require_unit
from ledger.people.tables import User
from ledger.store.usecase import write_once

router = APIRouter(tags=["auth"])


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    role: str = Field(description="admin | unit_admin | desk_operator | auditor | volunteer")
    unit_id: int | None = None
    volunteer_id: int | None = None
    desk_id: int | None = None
    display_name: str = ""


@router.get("/me")
def me(user: CurrentUser) -> dict:
    return {"user_id": user.user_id, "username": user.username, "role": user.role,
            "unit_id": user.unit_id, "volunteer_id": user.volunteer_id, "desk_id": user.desk_id}


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="user.create", request=body.model_dump(),
                     fn=lambda s: auth.user_public(auth.create_user(s, user, auth.CreateUser(**body.model_dump()))))


@router.post("/users/{user_id}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(user_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """Issue a token for a user in scope.  Not idempotent on purpose: a token is shown once."""
    require_role(user, "admin", "unit_admin")

    def run(session):
        target = session.get(User, user_id)
        if target is None:
            raise NotFound(f"user {user_id} not found", field="user_id")
        if user.role != "admin":
            if target.unit_id is None or target.role in ("admin", "auditor"):
                raise NotFound(f"user {user_id} not found", field="user_id")
            require_unit(session, user, target.unit_id, field="user_id")
        return {"user_id": target.id, "token": auth.issue_token_by(session, user, target, label=f"by {user.username}")}

    return write_once(ctx, run)
