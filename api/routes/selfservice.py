"""Volunteer self-service: sign-in by code, own figures and history, certificates, public check.

JSON reads answer with an ETag and honour If-None-Match (304, computed from a cheap
fingerprint before the body), so a phone polling for changes costs one small query.
Pages: /my (the volunteer's page) and /verify (public certificate check).  Sign-in and
verification need no token and are rate-limited per address by api.middleware; wrong
sign-in codes also lock the volunteer number and the address out (ledger.signin).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write, token_from_header
from api.middleware import DEFAULT_LIMIT, SlidingWindow
from ledger.errors import TooManyAttempts
from ledger.people import auth, signin
from ledger.store.usecase import read_standby, write_once
from ledger.volunteer_view import certificates, selfservice
from ledger.volunteer_view.certificate_pdf import render_certificate

router = APIRouter(tags=["self-service"])
STATIC = Path(__file__).resolve().parent.parent / "static"


class SignInCodeCreate(BaseModel):
    kind: str = Field(default="code", description="code (one-time, expires) | pin (reusable until replaced)")


class SignIn(BaseModel):
    number: str = Field(min_length=1, max_length=40, description="志愿者编号")
    code: str = Field(min_length=1, max_length=20, description="one-time code or PIN from the station")


class CertificateCreate(BaseModel):
    date_from: dt.date
    date_to: dt.date


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _etag_read(request: Request, ctx, user, volunteer_id: int, fn: Callable) -> Response:
    """Answer 304 when the client's ETag still matches, else the body with its ETag."""
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",") if tag.strip()}

    def run(session):
        tag = selfservice.version_tag(session, user, volunteer_id, ctx.today())
        etag = '"' + hashlib.sha256(f"{tag}|{request.url.path}?{request.url.query}".encode()).hexdigest()[:32] + '"'
        if etag in wanted or "*" in wanted:
            return etag, None
        return etag, fn(session)

    etag, body = read_standby(ctx, run)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return JSONResponse(body, headers=headers)


@router.post("/selfservice/volunteers/{volunteer_id}/sign-in-codes", status_code=status.HTTP_201_CREATED)
def issue_sign_in_code(volunteer_id: int, body: SignInCodeCreate, ctx: CtxDep, user: CurrentUser) -> dict:
    """A station admin issues a one-time code or PIN for a volunteer in scope.

    Not idempotent on purpose (like tokens): the code is shown once and never stored in clear.
    """
    limits = signin.Limits.from_options(ctx.options)
    return write_once(ctx, lambda s: signin.issue_code(s, user, ctx.secret_key, volunteer_id, kind=body.kind,
                                                       now=ctx.now(), limits=limits))


@router.post("/selfservice/sign-in")
def sign_in(body: SignIn, request: Request, ctx: CtxDep) -> dict:
    """Volunteer number + code → a bearer token (role volunteer) that expires."""
    return signin.sign_in(ctx, body.number, body.code, _address(request))


@router.post("/selfservice/sign-out")
def sign_out(request: Request, ctx: CtxDep, user: CurrentUser) -> dict:
    token = token_from_header(request.headers.get("authorization"))
    write_once(ctx, lambda s: auth.revoke_token(s, token))
    return {"signed_out": True}


@router.get("/selfservice/volunteers/{volunteer_id}/summary")
def summary(volunteer_id: int, request: Request, ctx: CtxDep, user: CurrentUser) -> Response:
    """Total hours, hours this year, points (spendable, held, next expiry), star level, next star."""
    return _etag_read(request, ctx, user, volunteer_id,
                      lambda s: selfservice.summary(s, user, volunteer_id, ctx.today()))


@router.get("/selfservice/volunteers/{volunteer_id}/history")
def history(volunteer_id: int, request: Request, ctx: CtxDep, user: CurrentUser,
            date_from: dt.date | None = None, date_to: dt.date | None = None, kind: str | None = None,
            limit: int = Query(20, ge=1, le=200), before_id: int | None = None) -> Response:
    """Ledger history, newest first; filter by date range and kind; page with next_before_id."""
    return _etag_read(request, ctx, user, volunteer_id, lambda s: selfservice.history(
        s, user, volunteer_id, date_from=date_from, date_to=date_to, kind=kind, limit=limit, before_id=before_id))


@router.get("/selfservice/volunteers/{volunteer_id}/memberships")
def memberships(volunteer_id: int, request: Request, ctx: CtxDep, user: CurrentUser) -> Response:
    """Membership history (units, teams, transfers)."""
    return _etag_read(request, ctx, user, volunteer_id,
                      lambda s: {"items": selfservice.memberships(s, user, volunteer_id)})


@router.get("/selfservice/volunteers/{volunteer_id}/redemptions")
def redemptions(volunteer_id: int, request: Request, ctx: CtxDep, user: CurrentUser,
                limit: int = Query(20, ge=1, le=200), before_id: int | None = None) -> Response:
    """Transactions at redemption desks (积分兑换), newest first."""
    return _etag_read(request, ctx, user, volunteer_id, lambda s: selfservice.redemptions(
        s, user, volunteer_id, limit=limit, before_id=before_id))


@router.get("/selfservice/volunteers/{volunteer_id}/certificates")
def list_certificates(volunteer_id: int, request: Request, ctx: CtxDep, user: CurrentUser) -> Response:
    return _etag_read(request, ctx, user, volunteer_id,
                      lambda s: {"items": certificates.list_certificates(s, user, volunteer_id)})


@router.post("/selfservice/volunteers/{volunteer_id}/certificates", status_code=status.HTTP_201_CREATED)
def issue_certificate(volunteer_id: int, body: CertificateCreate, ctx: CtxDep, user: CurrentUser,
                      key: IdempotencyKeyDep, response: Response) -> dict:
    """Issue and register a 志愿服务证明 for a period (posted, unreversed service only)."""
    return run_write(ctx, response, key=key, operation="certificate.issue",
                     request={"volunteer_id": volunteer_id, **body.model_dump(mode="json")},
                     fn=lambda s: certificates.issue_certificate(
                         s, user, ctx.secret_key, volunteer_id, body.date_from, body.date_to, ctx.today(),
                         ctx.deployment_name))


def verify_url(request: Request, number: str, code: str) -> str:
    """The public verification URL printed (and QR-coded) on a certificate."""
    base = str(request.base_url).rstrip("/")
    return f"{base}/verify?no={number}&code={certificates.display_code(code)}"


@router.get("/selfservice/certificates/{number}.pdf")
def certificate_pdf(number: str, request: Request, ctx: CtxDep, user: CurrentUser) -> Response:
    """The certificate as PDF, for its volunteer or an admin in scope."""
    content, code = read_standby(ctx, lambda s: certificates.require_certificate(s, user, number))
    pdf = render_certificate(content, code, verify_url(request, number, code), ctx.options.get("cjk_font"))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{number}.pdf"',
                             "Cache-Control": "private, no-store"})


def _verify_window(request: Request) -> SlidingWindow:
    state = request.app.state
    if not hasattr(state, "verify_window"):
        state.verify_window = SlidingWindow()
    return state.verify_window


@router.get("/selfservice/verify")
def verify(request: Request, ctx: CtxDep, number: str = Query("", max_length=60),
           code: str = Query("", max_length=60)) -> dict:
    """Public: is the certificate with this number and code genuine and unchanged?

    Rate-limited per client address (`rate_limit_per_minute`), here as well as by
    api.middleware, so the limit holds whatever the middleware sees of the routes.
    """
    limit = max(int(ctx.options.get("rate_limit_per_minute") or DEFAULT_LIMIT), 1)
    wait = _verify_window(request).hit((_address(request), "verify"), limit)
    if wait:
        seconds = max(1, math.ceil(wait))
        raise TooManyAttempts(f"核验次数过多，请 {seconds} 秒后再试 (too many checks from this address; "
                              f"retry after {seconds} s)", field="number", retry_after_seconds=seconds)
    return read_standby(ctx, lambda s: certificates.verify_certificate(s, ctx.secret_key, number, code))


@router.get("/my", include_in_schema=False)
def my_page() -> FileResponse:
    return FileResponse(STATIC / "me.html", media_type="text/html; charset=utf-8")


@router.get("/verify", include_in_schema=False)
def verify_page() -> FileResponse:
    return FileResponse(STATIC / "verify.html", media_type="text/html; charset=utf-8")
