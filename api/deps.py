"""FastAPI dependencies: the context, the signed-in principal, the idempotency key."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api import observability, staff_session
from ledger.errors import LedgerError, Unauthenticated
from ledger.people.access import Principal
from ledger.people.auth import authenticate
from ledger.store.uow import Context
from ledger.store.usecase import write


async def get_ctx(request: Request) -> Context:
    """The ledger context the app was built with."""
    return request.app.state.ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def token_from_header(authorization: str | None) -> str:
    """The bearer token of an Authorization header value."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("send 'Authorization: Bearer <token>'", field="Authorization")
    return authorization.split(" ", 1)[1].strip()


# The two dependencies above and below do no I/O: `async def` runs them on the event loop,
# where a plain `def` would cost each request a trip through the thread pool.
async def bearer_token(authorization: Annotated[str | None, Header()] = None) -> str:
    """The bearer token from the Authorization header."""
    return token_from_header(authorization)


def current_user(request: Request, ctx: CtxDep,
                 authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The principal behind the bearer token, or behind the console's session cookie (noted on
    the request for `run_write`: an idempotency key belongs to it).

    A cookie-borne request that changes anything must carry the session's CSRF token in
    `X-CSRF-Token` (a bearer token is never sent by the browser on its own, so needs none).
    """
    if authorization or not request.cookies.get(staff_session.COOKIE):
        principal = authenticate(ctx.engine, token_from_header(authorization), ctx.now())
        request.state.principal = principal
        return principal
    principal = staff_session.identity(request, ctx).principal
    if request.method not in staff_session.SAFE_METHODS:
        staff_session.require_csrf(request, ctx, request.headers.get(staff_session.CSRF_HEADER))
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


class IdempotencyKey(str):
    """The Idempotency-Key header's value, with the request it came with: `run_write` stores a
    result under the key and the request's signed-in principal, and replays it only to them."""

    request: Request | None = None


async def idempotency_key(request: Request, value: Annotated[str | None, Header(
        alias="Idempotency-Key", description="unique per write; a retry returns the first result")] = None
                          ) -> IdempotencyKey | None:
    """The idempotency key of a write, bound to its request (whose principal `current_user` notes)."""
    if value is None:
        return None
    key = IdempotencyKey(value)
    key.request = request
    return key


IdempotencyKeyDep = Annotated[IdempotencyKey | None, Depends(idempotency_key)]


def run_write(ctx: Context, response, *, key: str | None, operation: str, request, fn) -> dict:
    """Run an idempotent write; a replay is marked with the `Idempotent-Replayed` header.

    The key belongs to the request's signed-in principal (see `idempotency_key`), or to nobody
    in particular on a public route: a replay goes only to the same principal.
    """
    origin = getattr(key, "request", None)  # a key the route rewrote (a public route's) is anonymous
    principal = getattr(origin.state, "principal", None) if origin is not None else None
    try:
        result, replayed = write(ctx, key=None if key is None else str(key), operation=operation,
                                 request=request, fn=fn, principal=principal)
    except LedgerError as exc:
        observability.count_write(operation, exc.code)
        raise
    observability.count_write(operation, "replayed" if replayed else "ok")
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return result
