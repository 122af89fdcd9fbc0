"""Staff console sessions (工作人员登录): a user name and a password open a server-side session.

The browser keeps a random session token in a cookie; the database keeps only its SHA-256,
with an expiry and a revocation time, so that signing out, a password change or an admin's
revocation ends a session at once on every worker.  Forms carry a CSRF token bound to the
session (an HMAC of the session token under the service's secret key).

Wrong passwords are counted per user name and per client address in `sign_in_attempts`, the
same table and the same counting as the volunteers' sign-in (`signin.lockout_until`); the
lock-out decision lives in one function, `staff_lockout`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ledger.errors import LedgerError, TooManyAttempts, Unauthenticated
from ledger.people import passwords, signin
from ledger.people.access import Principal
from ledger.people.tables import SignInAttempt, StaffSession, Unit, User
from ledger.store.tables import AuditEntry
from ledger.store.uow import Context

SESSION_HOURS = 12
WRONG = "用户名或密码不正确"
SIGNED_OUT = "登录已失效，请重新登录"


def session_digest(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(secret: bytes, session_token: str) -> str:
    """The CSRF token of a session: an HMAC of the session token (nothing more is stored)."""
    return hmac.new(secret, f"csrf:{session_token}".encode("utf-8"), "sha256").hexdigest()


def csrf_matches(secret: bytes, session_token: str, sent: str | None) -> bool:
    """True when `sent` is the session's CSRF token (compared in constant time)."""
    return bool(sent) and hmac.compare_digest(csrf_token(secret, session_token), str(sent))


def attempt_key(username: str) -> str:
    """How a staff sign-in is named in `sign_in_attempts` (apart from volunteer numbers)."""
    return ("staff:" + (username or "").strip())[:40]


@dataclass(frozen=True)
class StaffIdentity:
    """Who a console session stands for: the principal, and what the header shows."""

    principal: Principal
    display_name: str
    unit_name: str | None
    session_id: int


def staff_lockout(session: Session, username: str, address: str, now: dt.datetime,
                  limits: signin.Limits) -> LedgerError | None:
    """The lock-out after repeated wrong passwords, per user name and per address; None when open."""
    for column, value, allowed, resets in (
            (SignInAttempt.volunteer_number, attempt_key(username), limits.per_volunteer, True),
            (SignInAttempt.client_address, address, limits.per_address, False)):
        until = signin.lockout_until(session, column, value, allowed, now, limits.lockout, resets)
        if until is not None:
            minutes = max(1, -(-int((until - now).total_seconds()) // 60))
            return TooManyAttempts(f"密码错误次数过多，请 {minutes} 分钟后再试", field="password",
                                   retry_after_minutes=minutes, locked_until=until.isoformat())
    return None


def _staff_user(session: Session, username: str) -> User | None:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.is_active or user.role not in passwords.STAFF_ROLES:
        return None
    return user


def attempt_staff_sign_in(session: Session, username: str, password: str, address: str, now: dt.datetime,
                          limits: signin.Limits, hours: int = SESSION_HOURS) -> dict | LedgerError:
    """One sign-in attempt: records it and returns the new session, or the error to report.

    Returns the error instead of raising it so the caller commits the attempt first.
    """
    username, address = (username or "").strip()[:100], (address or "unknown")[:64]
    locked = staff_lockout(session, username, address, now, limits)
    if locked is not None:
        return locked
    user = _staff_user(session, username)
    succeeded = passwords.password_matches(user.password_hash if user else None, password)
    session.add(SignInAttempt(volunteer_number=attempt_key(username), client_address=address, at=now,
                              succeeded=succeeded))
    session.flush()
    if not succeeded:
        return staff_lockout(session, username, address, now, limits) or Unauthenticated(WRONG, field="password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(hours=hours)
    session.add(StaffSession(user_id=user.id, token_hash=session_digest(token), client_address=address,
                             created_at=now, expires_at=expires_at))
    session.add(AuditEntry(actor=user.username, action="session.open", target=f"user:{user.id}",
                           detail={"address": address}))
    session.flush()
    return {"token": token, "user_id": user.id, "expires_at": expires_at.isoformat()}


def sign_in_staff(ctx: Context, username: str, password: str, address: str) -> dict:
    """Sign a staff member in (use case): the attempt is committed even when it fails."""
    limits = signin.Limits.from_options(ctx.options)
    hours = int(ctx.options.get("console_session_hours") or SESSION_HOURS)
    with ctx.uow() as uow:
        outcome = attempt_staff_sign_in(uow.session, username, password, address, ctx.now(), limits, hours)
        uow.commit()
    if isinstance(outcome, LedgerError):
        raise outcome
    return outcome


def _session_query():
    sessions, users, units = StaffSession.__table__, User.__table__, Unit.__table__
    return (select(sessions.c.id.label("session_id"), sessions.c.expires_at, sessions.c.revoked_at,
                   users.c.id, users.c.username, users.c.display_name, users.c.role, users.c.unit_id,
                   users.c.volunteer_id, users.c.desk_id, users.c.is_active, units.c.path,
                   units.c.name.label("unit_name"))
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id)
                         .outerjoin(units, units.c.id == users.c.unit_id))
            .where(sessions.c.token_hash == bindparam("digest")))


_SESSION = _session_query()  # the session, its user and the user's unit: one statement, built once


def identity_for_session(engine: Engine, token: str, now: dt.datetime) -> StaffIdentity:
    """Who a session cookie stands for; refused when unknown, expired, revoked or disabled."""
    if not token:
        raise Unauthenticated(SIGNED_OUT, field="session")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = conn.execute(_SESSION, {"digest": session_digest(token)}).first()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now or not row.is_active:
        raise Unauthenticated(SIGNED_OUT, field="session")
    principal = Principal(user_id=row.id, username=row.username, role=row.role, unit_id=row.unit_id,
                          unit_path=row.path, volunteer_id=row.volunteer_id, desk_id=row.desk_id)
    return StaffIdentity(principal=principal, display_name=row.display_name or row.username,
                         unit_name=row.unit_name, session_id=row.session_id)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def sign_out(ctx: Context, token: str) -> None:
    """End a session (sign-out); unknown or ended sessions are left as they are."""
    with ctx.uow() as uow:
        uow.session.execute(update(StaffSession).where(StaffSession.token_hash == session_digest(token),
                                                       StaffSession.revoked_at.is_(None))
                            .values(revoked_at=ctx.now()))
        uow.commit()


def change_password(ctx: Context, identity: StaffIdentity, current: str, new: str) -> None:
    """Change one's own password: the current one is checked, every other session of the user ends."""
    now = ctx.now()
    with ctx.uow() as uow:
        user = uow.session.get(User, identity.principal.user_id)
        if user is None or not passwords.password_matches(user.password_hash, current):
            raise Unauthenticated("当前密码不正确", field="current_password")
        if current == new:
            raise passwords.ValidationFailed("新密码不能与当前密码相同", field="new_password")
        passwords.validate_password(new, field="new_password")
        passwords.set_password(uow.session, user, new, now, actor=user.username)
        uow.session.execute(update(StaffSession).where(StaffSession.user_id == user.id,
                                                       StaffSession.id != identity.session_id,
                                                       StaffSession.revoked_at.is_(None)).values(revoked_at=now))
        uow.commit()


def revoke_sessions(session: Session, user_id: int, now: dt.datetime) -> int:
    """End every open session of a user (when disabled or when an admin resets the password)."""
    result = session.execute(update(StaffSession).where(StaffSession.user_id == user_id,
                                                        StaffSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount or 0
