"""The staff console (工作台): server-rendered pages in Chinese, signed in with a name and a password.

Each module of this package with a `router` is included by the app (like `api.routes`);
`web` holds what the pages share (templates, the signed-in staff member, CSRF, form errors),
`menu` the per-role menu.  Pages call the use cases of `ledger/`; no SQL here.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"


def all_routers() -> list[APIRouter]:
    """Every `router` defined by a module of this package, in module-name order."""
    routers = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            routers.append(module.router)
    return routers


def install(app: FastAPI) -> None:
    """Include the console's pages, its error answers and the static files (script, style, fonts)."""
    from api.console import web

    web.install(app)
    for router in all_routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
