"""One place that turns errors into HTTP answers: {"code", "message", "field"}."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ledger.errors import LedgerError

log = logging.getLogger("ledger.api")


def _error_field(error: dict) -> str:
    if error.get("type") == "json_invalid":  # loc is ("body", <character offset>): the body is the field
        return "body"
    return _field(tuple(error.get("loc", ())))


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def install(app: FastAPI) -> None:
    """Register the exception handlers on the app."""

    @app.exception_handler(LedgerError)
    async def ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        headers = {"Retry-After": "5"} if exc.status in (429, 503) else None
        return JSONResponse(exc.as_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        details = [{"field": _error_field(e), "reason": e.get("msg", "")} for e in errors]
        return JSONResponse({"code": "invalid", "field": _error_field(first),
                             "message": f"{_error_field(first)}: {first.get('msg')}",
                             "details": {"errors": details}}, status_code=422)

    @app.exception_handler(OverflowError)
    async def out_of_range(_request: Request, exc: OverflowError) -> JSONResponse:
        # an id beyond the database's integer range (SQLite raises this before querying)
        return JSONResponse({"code": "invalid", "field": None,
                             "message": "a number in the request is out of range"}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", type(exc.orig).__name__)
        return JSONResponse({"code": "conflict", "field": None,
                             "message": "the request conflicts with the ledger's current state; "
                                        "nothing was changed"}, status_code=409)

    @app.exception_handler(OperationalError)
    async def database_down(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse({"code": "unavailable", "field": None,
                             "message": "the database is unavailable; nothing was changed, "
                                        "retry with the same Idempotency-Key"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await database_down(_request, exc)  # type: ignore[arg-type]
        log.error("database error: %s", type(exc.orig).__name__)
        return JSONResponse({"code": "database_error", "field": None,
                             "message": "the database refused the request; nothing was changed"},
                            status_code=409)
