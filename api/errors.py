"""One place that turns errors into HTTP answers: {"code", "message", "field"}."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.i18n import localise, validation_message_zh, wants_english
from ledger.errors import LedgerError

log = logging.getLogger("ledger.api")
HTTP_ZH = {404: ("not_found", "找不到该地址 (no such path)"),
           405: ("method_not_allowed", "该地址不支持此请求方法 (method not allowed)")}


def _error_field(error: dict) -> str:
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>): the body is the field
        return "body"
    return _field(tuple(error.get("loc", ())))


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def _answer(request: Request, body: dict, status_code: int, headers: dict | None = None) -> JSONResponse:
    """The error body with its message in the language the client reads (Chinese unless it asks for English)."""
    return JSONResponse(localise(body, request.headers.get("accept-language")), status_code=status_code,
                        headers=headers)


def _validation_message(request: Request, field: str, error: dict) -> str:
    if wants_english(request.headers.get("accept-language")):
        return f"{field}: {error.get('msg')}"
    return validation_message_zh(field, error)


def install(app: FastAPI) -> None:
    """Register the exception handlers on the app."""

    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status in (429, 503) else None
        return _answer(request, exc.as_dict(), exc.status, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        details = [{"field": _error_field(e), "reason": e.get("msg", "")} for e in errors]
        return JSONResponse({"code": "invalid", "field": _error_field(first),
                             "message": _validation_message(request, _error_field(first), first),
                             "details": {"errors": details}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own 404 and 405 would answer {"detail"}: the same shape as every other error
        code, message = HTTP_ZH.get(exc.status_code, ("http_error", "请求无法处理 (the request cannot be handled)"))
        return _answer(request, {"code": code, "message": message, "field": None}, exc.status_code,
                       getattr(exc, "headers", None))

    @app.exception_handler(OverflowError)
    async def out_of_range(request: Request, exc: OverflowError) -> JSONResponse:
        # an id beyond the database's integer range (SQLite raises this before querying)
        return _answer(request, {"code": "invalid", "field": None,
                                 "message": "a number in the request is out of range"}, 422)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", type(exc.orig).__name__)
        return _answer(request, {"code": "conflict", "field": None,
                                 "message": "the request conflicts with the ledger's current state; "
                                            "nothing was changed"}, 409)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return _answer(request, {"code": "unavailable", "field": None,
                                 "message": "the database is unavailable; nothing was changed, "
                                            "retry with the same Idempotency-Key"}, 503, {"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await database_down(request, exc)  # type: ignore[arg-type]
        log.error("database error: %s", type(exc.orig).__name__)
        return _answer(request, {"code": "database_error", "field": None,
                                 "message": "the database refused the request; nothing was changed"}, 409)
