"""Users and tokens: make users within one's reach, issue, list and revoke their tokens, disable
them; `GET /me` tells a token who it is.  A revoked token or a disabled user's token answers 401
from the next request on, in every server process (each request reads the token's row)."""
from __future__ import annotations

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.people import auth, users
from ledger.store.usecase import read, write_once

router = APIRouter(tags=["auth"])


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    role: str = Field(description="admin | unit_admin | desk_operator | auditor | volunteer")
    unit_id: int | None = None
    volunteer_id: int | None = None
    desk_id: int | None = None
    display_name: str = ""


class TokenRevoke(BaseModel):
    token_id: int | None = Field(default=None, description="one token; omit to revoke all of the user's tokens")


@router.get("/me")
def me(user: CurrentUser) -> dict:
    return {"user_id": user.user_id, "username": user.username, "role": user.role,
            "unit_id": user.unit_id, "volunteer_id": user.volunteer_id, "desk_id": user.desk_id}


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="user.create", request=body.model_dump(),
                     fn=lambda s: auth.user_public(auth.create_user(s, user, auth.CreateUser(**body.model_dump()))))


@router.get("/users")
def list_users(ctx: CtxDep, user: CurrentUser, limit: int = Query(200, ge=1, le=1000),
               offset: int = Query(0, ge=0)) -> list[dict]:
    """The users the caller may manage: an admin every user, a unit admin those within their reach."""
    return read(ctx, lambda s: users.list_users(s, user, limit, offset))


@router.post("/users/{user_id}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(user_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """Issue an expiring token (setting `token_ttl_days`) for a user within the caller's reach.

    Not idempotent on purpose: the token is shown once and only its hash is stored anywhere.
    """
    return write_once(ctx, lambda s: auth.issue_token_by(
        s, user, users.require_managed_user(s, user, user_id), ttl=auth.token_ttl(ctx.options), now=ctx.now(),
        label=f"by {user.username}"))


@router.get("/users/{user_id}/tokens")
def list_tokens(user_id: int, ctx: CtxDep, user: CurrentUser) -> list[dict]:
    """A managed user's tokens (label, issued, expires, revoked); never the token itself."""
    return read(ctx, lambda s: users.list_tokens(s, user, user_id))


@router.post("/users/{user_id}/tokens/revoke")
def revoke_tokens(user_id: int, body: TokenRevoke, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                  response: Response) -> dict:
    """Revoke one token of a managed user, or all of them: 401 from their next request on."""
    return run_write(ctx, response, key=key, operation="token.revoke", request={"user_id": user_id, **body.model_dump()},
                     fn=lambda s: users.revoke_tokens(s, user, user_id, body.token_id, ctx.now()))


@router.post("/users/{user_id}/disable")
def disable_user(user_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """Disable a managed user: every token of theirs answers 401 from the next request on."""
    return run_write(ctx, response, key=key, operation="user.disable", request={"user_id": user_id},
                     fn=lambda s: users.set_active(s, user, user_id, False))


@router.post("/users/{user_id}/enable")
def enable_user(user_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    """Enable a disabled user again (their tokens that have not expired or been revoked work again)."""
    return run_write(ctx, response, key=key, operation="user.enable", request={"user_id": user_id},
                     fn=lambda s: users.set_active(s, user, user_id, True))
