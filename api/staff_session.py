"""The staff console's session cookie: reading it, setting it, and the CSRF check that goes with it.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it)
and Secure when the request came over https.  A request that rides on the cookie and changes
anything must also carry the session's CSRF token: in the form field `csrf_token` or in the
header `X-CSRF-Token` (the pages' scripts read it from `<meta name="csrf-token">`).
Bearer-token clients are not concerned: they send no cookie.
"""
from __future__ import annotations

from fastapi import Request, Response

from ledger.errors import Forbidden
from ledger.people import sessions
from ledger.people.sessions import StaffIdentity
from ledger.store.uow import Context

COOKIE = "ledger_session"
PRE_COOKIE = "ledger_signin_csrf"  # double-submit token of the sign-in form (before any session)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "页面已过期或来源不明，请刷新页面后重新提交"


def session_token(request: Request) -> str:
    """The session token of the request's cookie ('' when there is none)."""
    return request.cookies.get(COOKIE, "")


def identity(request: Request, ctx: Context) -> StaffIdentity:
    """The staff member behind the request's cookie; Unauthenticated when there is none or it ended."""
    return sessions.identity_for_session(ctx.engine, session_token(request), ctx.now())


def require_csrf(request: Request, ctx: Context, sent: str | None) -> None:
    """Refuse a cookie-borne write whose CSRF token is missing or wrong."""
    if not sessions.csrf_matches(ctx.secret_key, session_token(request), sent):
        raise Forbidden(CSRF_REFUSED, field=CSRF_FIELD)


def csrf_for(request: Request, ctx: Context) -> str:
    """The CSRF token to put into the request's page."""
    return sessions.csrf_token(ctx.secret_key, session_token(request))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    """Put the session token into an HttpOnly, SameSite=Strict cookie (Secure over https)."""
    response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="strict",
                        secure=is_https(request), path="/")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request))
