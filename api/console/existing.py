"""The pages that existed before the console (rankings, targets, the desk), served in its layout:
the session rides in the HttpOnly cookie, their scripts put names in as text only."""
from __future__ import annotations

from fastapi import APIRouter, Request

from api.console.web import StaffDep, page, require_page, unit_options
from api.deps import CtxDep

router = APIRouter(include_in_schema=False)


@router.get("/rankings/page")
def rankings_page(request: Request, staff: StaffDep):
    require_page(staff, "rankings")
    return page(request, "console/rankings.html", staff, active="rankings")


@router.get("/targets/page")
def targets_page(request: Request, ctx: CtxDep, staff: StaffDep):
    require_page(staff, "targets")
    return page(request, "console/targets.html", staff, active="targets", units=unit_options(ctx, staff.principal))


@router.get("/desk")
def desk_page(request: Request, staff: StaffDep):
    require_page(staff, "desk")
    return page(request, "console/desk.html", staff, active="desk")
