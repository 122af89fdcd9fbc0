"""Public notice (公示) of a selection: the public page and objections (no token), and the
county's side (put on notice, objections, resolve, confirm final, supersede).

The public page is rendered by a Jinja2 template that escapes every value, and served with a
Content-Security-Policy that allows no script at all: the objection form is a plain HTML form.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import APIRouter, Form, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.errors import LedgerError, ValidationFailed
from ledger.people.idcard import keyed_hash
from ledger.rankings import notices
from ledger.store.usecase import read

router = APIRouter(tags=["rankings"])
HERE = Path(__file__).resolve().parent.parent
TEMPLATES = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer"}


class ObjectionCreate(BaseModel):
    contact: str = Field(max_length=40, description="联系电话: kept hashed and masked, never shown")
    reason: str = Field(max_length=1000, description="异议内容 (5-1000 characters)")
    line: int | None = Field(default=None, description="the 序号 on the public list it is about")
    name: str = Field(default="", max_length=50)


class Resolution(BaseModel):
    outcome: str = Field(description="upheld (成立) | dismissed (不成立)")
    reply: str = Field(min_length=1, max_length=1000)


class NoticeSupersede(BaseModel):
    by_run_id: int
    reason: str = Field(min_length=1, max_length=400)


def _page(name: str, status_code: int = 200, **values) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(name).render(**values), status_code=status_code,
                        headers=PAGE_HEADERS)


@router.get("/public/notice.css", include_in_schema=False)
def notice_css() -> FileResponse:
    return FileResponse(HERE / "static" / "notice.css", media_type="text/css; charset=utf-8")


@router.get("/public/notices/{notice_id}", include_in_schema=False)
def notice_page(notice_id: int, ctx: CtxDep) -> HTMLResponse:
    notice = read(ctx, lambda s: notices.public_notice(s, notice_id, ctx.today()))
    return _page("notice.html", notice=notice, token=secrets.token_urlsafe(16))


@router.get("/public/notices/{notice_id}/data")
def notice_data(notice_id: int, ctx: CtxDep) -> dict:
    return read(ctx, lambda s: notices.public_notice(s, notice_id, ctx.today()))


@router.post("/public/notices/{notice_id}/objections", status_code=status.HTTP_201_CREATED)
def object_json(notice_id: int, body: ObjectionCreate, ctx: CtxDep, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key and f"public-objection:{key}", operation="ranking.objection",
                     request=_fingerprinted(ctx, notice_id, body.model_dump()),
                     fn=lambda s: notices.object_to(s, ctx.secret_key, notice_id, ctx.today(), **body.model_dump()))


def _fingerprinted(ctx, notice_id: int, body: dict) -> dict:
    """The request as the idempotency fingerprint sees it: the phone number keyed-hashed."""
    return {"notice_id": notice_id, **body, "contact": keyed_hash(body["contact"], ctx.secret_key)}


def _line(text: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise ValidationFailed("序号应为数字", field="line")
    return int(text)


@router.post("/public/notices/{notice_id}/objection-form", include_in_schema=False)
def object_form(notice_id: int, ctx: CtxDep, response: Response, token: str = Form(""), reason: str = Form(""),
                contact: str = Form(""), line: str = Form(""), name: str = Form("")) -> HTMLResponse:
    try:
        body = {"contact": contact[:40], "reason": reason[:2000], "line": _line(line), "name": name[:60]}
        receipt = run_write(ctx, response, key=f"public-objection-form:{token[:60]}" if token else None,
                            operation="ranking.objection", request=_fingerprinted(ctx, notice_id, body),
                            fn=lambda s: notices.object_to(s, ctx.secret_key, notice_id, ctx.today(), **body))
    except LedgerError as exc:
        return _page("notice_receipt.html", status_code=exc.status, ok=False, message=exc.message,
                     receipt=None, notice_id=notice_id)
    return _page("notice_receipt.html", ok=True, message=receipt["message"], receipt=receipt, notice_id=notice_id)


@router.post("/rankings/runs/{run_id}/notice", status_code=status.HTTP_201_CREATED)
def put_on_notice(run_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.notice", request={"run_id": run_id},
                     fn=lambda s: notices.put_on_notice(s, user, run_id, ctx.today()))


@router.get("/rankings/notices")
def list_notices(ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read(ctx, lambda s: notices.list_notices(s, user, ctx.today()))


@router.get("/rankings/notices/{notice_id}/objections")
def list_objections(notice_id: int, ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read(ctx, lambda s: notices.list_objections(s, user, notice_id))


@router.post("/rankings/objections/{objection_id}/resolve")
def resolve(objection_id: int, body: Resolution, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.objection_resolve",
                     request={"objection_id": objection_id, **body.model_dump()},
                     fn=lambda s: notices.resolve_objection(s, user, objection_id, body.outcome, body.reply))


@router.post("/rankings/notices/{notice_id}/confirm")
def confirm(notice_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.confirm", request={"notice_id": notice_id},
                     fn=lambda s: notices.confirm_final(s, user, notice_id, ctx.today()))


@router.post("/rankings/notices/{notice_id}/supersede")
def supersede(notice_id: int, body: NoticeSupersede, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
              response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.notice_supersede",
                     request={"notice_id": notice_id, **body.model_dump()},
                     fn=lambda s: notices.supersede_on_notice(s, user, notice_id, body.by_run_id, body.reason,
                                                              ctx.today()))
