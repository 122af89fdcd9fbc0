"""What the service loop's pages share: Jinja2 (autoescape), a CSRF token on every form, a
strict Content-Security-Policy, and the volunteer's phone session cookie.

The pages are server-rendered forms: no script at all (CSP `script-src 'none'`), styles from
one static file, every value from the database rendered as escaped text.  CSRF is the
double-submit pattern: a random cookie (HttpOnly, SameSite=Lax) and the same value in a hidden
field of every form; a POST whose field does not match is refused before anything runs.
The volunteer's session on their phone is their bearer token (from the number and the
station's code) in an HttpOnly cookie; signing out revokes the token.
"""
from __future__ import annotations

import io
import secrets
from pathlib import Path

import qrcode
import qrcode.image.svg
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.errors import Forbidden
from ledger.people.challenge import same_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSRF_COOKIE = "loop_csrf"
VOLUNTEER_COOKIE = "loop_volunteer"
LARGE_COOKIE = "loop_large"
CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)


def csrf_token(request: Request) -> str:
    """The caller's CSRF token (their cookie's value, or a new one set on the response)."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(24))
    return token


def check_csrf(request: Request, form: dict) -> None:
    """Refuse a form whose hidden token does not match the cookie (another site's form)."""
    cookie, field = request.cookies.get(CSRF_COOKIE, ""), str(form.get("csrf", ""))
    if not cookie or not same_text(cookie, field):
        raise Forbidden("页面已过期，请刷新后重新提交 (the form's security token does not match)", field="csrf")


def secure(response, request: Request):
    """The page headers: CSP, no framing, no caching of personal pages, the CSRF cookie."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the 评单 link carries a token
    response.headers["Cache-Control"] = "no-store"
    new = request.state.__dict__.get("new_csrf")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax", secure=_is_https(request))
    return response


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def render(request: Request, template: str, status_code: int = 200, *, csrf: str | None = None,
           **values) -> HTMLResponse:
    """A page from a template, with the CSRF token and the text size the visitor chose.

    `csrf`: the token of a staff page (the console session's); else this visitor's cookie token.
    """
    large = request.cookies.get(LARGE_COOKIE) == "1"
    html = ENV.get_template(template).render(csrf=csrf or csrf_token(request), large=large, **values)
    return secure(HTMLResponse(html, status_code=status_code), request)


def redirect(request: Request, url: str) -> RedirectResponse:
    """See-other to a page of ours (after a form)."""
    return secure(RedirectResponse(url, status_code=303), request)


def set_volunteer(response, request: Request, token: str, max_age: int) -> None:
    """Keep the volunteer signed in on this phone."""
    response.set_cookie(VOLUNTEER_COOKIE, token, max_age=max_age, httponly=True, samesite="lax",
                        secure=_is_https(request))


def error_text(error) -> str:
    """The Chinese part of a domain error's message (the English in brackets is for logs)."""
    message = getattr(error, "message", str(error))
    head = message.split(" (")[0].strip()
    return head or message


def qr_svg(text: str) -> bytes:
    """A QR code of `text` as SVG (no script, no external reference)."""
    buffer = io.BytesIO()
    qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2).save(buffer)
    return buffer.getvalue()
