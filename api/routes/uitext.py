"""Shared page script: Chinese wording for the API's error bodies (codes stay as they are)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["pages"])

STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/static/errors-zh.js", include_in_schema=False)
def errors_zh() -> FileResponse:
    return FileResponse(STATIC / "errors-zh.js", media_type="text/javascript; charset=utf-8")
