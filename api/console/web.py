"""What every console page shares: the templates, the signed-in staff member, the CSRF check,
form errors next to their fields, and the answers for "sign in first" and "not for you".

Templates are Jinja2 with autoescape on: whatever comes from the database is rendered as text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api import staff_session
from api.console import menu
from api.deps import CtxDep
from api.i18n import chinese_message, field_label
from ledger.errors import LedgerError, Unauthenticated
from ledger.people.access import Principal
from ledger.people.sessions import StaffIdentity

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_ENV = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)
_ENV.globals["same_pairs"] = lambda values: [(value, value) for value in values]
_ENV.globals["unit_pairs"] = lambda units: [(unit["id"], unit["label"]) for unit in units]
templates = Jinja2Templates(env=_ENV)


class SignInRequired(Exception):
    """No session (or it ended): the page answers with a redirect to the sign-in form."""

    def __init__(self, next_url: str):
        super().__init__(next_url)
        self.next_url = next_url


class PageRefused(Exception):
    """A page or form that the staff member may not use, or a refused CSRF token."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Staff:
    """The signed-in staff member of a console request, with the page's CSRF token."""

    identity: StaffIdentity
    csrf: str

    @property
    def principal(self) -> Principal:
        return self.identity.principal

    @property
    def role_name(self) -> str:
        return menu.ROLE_NAMES.get(self.principal.role, self.principal.role)


def current_staff(request: Request, ctx: CtxDep) -> Staff:
    """The staff member behind the session cookie; else a redirect to the sign-in form."""
    try:
        identity = staff_session.identity(request, ctx)
    except Unauthenticated:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target) from None
    return Staff(identity=identity, csrf=staff_session.csrf_for(request, ctx))


current_staff.identifies_caller = True  # the rate limit of public paths does not apply (api.middleware)
StaffDep = Annotated[Staff, Depends(current_staff)]


async def staff_form(request: Request, ctx: CtxDep, staff: StaffDep) -> Staff:
    """The staff member of a form submission, after its CSRF token checks out."""
    form = await request.form()
    sent = form.get(staff_session.CSRF_FIELD) or request.headers.get(staff_session.CSRF_HEADER)
    try:
        staff_session.require_csrf(request, ctx, sent if isinstance(sent, str) else None)
    except LedgerError as exc:
        raise PageRefused(403, exc.message) from None
    return staff


StaffForm = Annotated[Staff, Depends(staff_form)]


def require_page(staff: Staff, key: str) -> None:
    """Refuse a page that is not in the staff member's menu."""
    if not menu.may_open(staff.principal.role, key):
        raise PageRefused(403, "您的角色无权使用此页面")


@dataclass
class FormErrors:
    """Errors of a submitted form: by field (shown next to it) and for the whole form."""

    by_field: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, error: LedgerError, fields: tuple[str, ...] = ()) -> None:
        """Place a domain error next to its field when the form has it, else above the form."""
        message = chinese_message(error.code, error.message, error.field)
        name = (error.field or "").split(".")[-1]
        if name and (not fields or name in fields):
            self.by_field.setdefault(name, message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def page(request: Request, name: str, staff: Staff | None, *, status: int = 200, active: str = "",
         **values: Any) -> HTMLResponse:
    """Render a console template with the layout's values (menu, staff member, CSRF token)."""
    values.setdefault("errors", FormErrors())
    context = {"request": request, "staff": staff, "active": active, "field_label": field_label,
               "menu": menu.menu_for(staff.principal.role) if staff else [], **values}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str) -> RedirectResponse:
    """After a successful form: go to the page that shows the result (303: the browser GETs it)."""
    return RedirectResponse(url, status_code=303)


def sign_in_url(next_url: str) -> str:
    return "/?next=" + quote(next_url, safe="/")


def safe_next(next_url: str | None) -> str:
    """A same-site path to go to after signing in (never another site)."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return "/"
    return next_url


def install(app) -> None:
    """The answers for SignInRequired and PageRefused."""

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired):
        return redirect(sign_in_url(exc.next_url))

    @app.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused):
        return page(request, "console/refused.html", None, status=exc.status, message=exc.message)


def unit_options(ctx, principal: Principal) -> list[dict]:
    """The units in the principal's scope as a tree for a picker: [{id, label, kind_name, name}]."""
    from ledger.people import org
    from ledger.store.usecase import read

    units = read(ctx, lambda s: org.list_units(s, principal))
    depth: dict[int, int] = {}
    for unit in units:  # ordered by path: a parent comes before its children
        depth[unit["id"]] = depth[unit["parent_id"]] + 1 if unit["parent_id"] in depth else 0
    return [{"id": u["id"], "name": u["name"], "kind_name": u["kind_name"],
             "label": "\u3000" * depth[u["id"]] + u["name"]} for u in units]


def new_form_key() -> str:
    """A key for one rendered form: submitting it twice (a double click, a resend) writes once."""
    import secrets

    return secrets.token_urlsafe(16)


def form_write(ctx, staff: Staff, form_key: str, operation: str, request: Any, fn) -> dict:
    """Run a console form's write once per form key (bound to the signed-in user)."""
    from ledger.store.usecase import write

    key = f"console:{staff.principal.user_id}:{form_key}"[:200] if form_key else None
    result, _replayed = write(ctx, key=key, operation=operation, request=request, fn=fn)
    return result
