"""Users and bearer tokens.  Only a token's SHA-256 is stored; the token is shown once."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ledger.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from ledger.names import clean_name
from ledger.people.access import SYSTEM, Principal
from ledger.people.tables import ApiToken, Unit, User
from ledger.people.users import require_reach, user_public  # noqa: F401 - user_public is used by callers of auth
from ledger.store.tables import AuditEntry, utcnow


def token_digest(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreateUser:
    """Command: add a user with a role, scoped to a unit (or a volunteer, or a desk)."""

    username: str
    role: str
    unit_id: int | None = None
    volunteer_id: int | None = None
    desk_id: int | None = None
    display_name: str = ""


def create_user(session: Session, principal: Principal, command: CreateUser) -> User:
    """Add a user with no more reach than the principal's own (`ledger.people.users`)."""
    command = replace(command, username=clean_name(command.username, "username", label="用户名"),
                      display_name=clean_name(command.display_name, "display_name", label="显示名称", allow_empty=True))
    require_reach(session, principal, command.role, unit_id=command.unit_id,
                  volunteer_id=command.volunteer_id, desk_id=command.desk_id)
    if session.execute(select(User.id).where(User.username == command.username.strip())).first():
        raise Conflict(f"用户名 {command.username!r} 已被使用", field="username")
    user = User(username=command.username.strip(), role=command.role, unit_id=command.unit_id,
                volunteer_id=command.volunteer_id, desk_id=command.desk_id,
                display_name=command.display_name or command.username, created_by=principal.user_id)
    session.add(user)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="user.create", target=f"user:{user.id}",
                           detail={"role": user.role, "unit_id": user.unit_id}))
    return user


DEFAULT_TOKEN_TTL_DAYS = 30


def token_ttl(options: dict) -> dt.timedelta:
    """How long a token an admin issues lives (setting `token_ttl_days`, 30 days by default)."""
    days = int(options.get("token_ttl_days") or DEFAULT_TOKEN_TTL_DAYS)
    if days <= 0:
        raise ValidationFailed("令牌有效期 token_ttl_days 必须是正整数", field="token_ttl_days")
    return dt.timedelta(days=days)


def issue_token(session: Session, user: User, label: str = "", ttl: dt.timedelta | None = None,
                now: dt.datetime | None = None) -> str:
    """Create a bearer token for a user; returns it once (only its hash is kept).

    Without `ttl` the token does not expire: only for tests and benchmarks; every token a person
    is handed (by an admin, the command line or sign-in) is issued with one.
    """
    token = "lt_" + secrets.token_urlsafe(32)
    expires_at = (now or utcnow()) + ttl if ttl else None
    session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), label=label,
                         expires_at=expires_at))
    session.flush()
    return token


def issue_token_by(session: Session, principal: Principal, user: User, *, ttl: dt.timedelta, now: dt.datetime,
                   label: str = "") -> dict:
    """Issue an expiring token for a user on someone's behalf, and write who did it to the audit trail."""
    token = issue_token(session, user, label=label, ttl=ttl, now=now)
    session.add(AuditEntry(actor=principal.username, action="token.issue", target=f"user:{user.id}",
                           detail={"label": label, "role": user.role, "expires_at": (now + ttl).isoformat()}))
    return {"user_id": user.id, "token": token, "expires_at": (now + ttl).isoformat()}


def _token_query():
    users, tokens, units = User.__table__, ApiToken.__table__, Unit.__table__
    return (select(users.c.id, users.c.username, users.c.role, users.c.unit_id, users.c.volunteer_id,
                   users.c.desk_id, users.c.is_active, users.c.created_by, tokens.c.expires_at,
                   tokens.c.revoked_at, units.c.path)
            .select_from(tokens.join(users, users.c.id == tokens.c.user_id)
                         .outerjoin(units, units.c.id == users.c.unit_id))
            .where(tokens.c.token_hash == bindparam("digest")))


_TOKEN = _token_query()  # the user, the token and the path of the user's unit: one statement, built once


def principal_for_token(session: Session | Connection, token: str, now: dt.datetime) -> Principal:
    """The principal a bearer token stands for; refused when unknown, expired or revoked."""
    conn = session.connection() if isinstance(session, Session) else session
    row = conn.execute(_TOKEN, {"digest": token_digest(token)}).first()
    if row is None:
        raise Unauthenticated("令牌无效，请重新登录", field="Authorization")
    expires_at = row.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=dt.timezone.utc)
    if row.revoked_at is not None or (expires_at is not None and expires_at <= now):
        raise Unauthenticated("令牌已过期或已被吊销，请重新登录 (expired or revoked; sign in again)",
                              field="Authorization")
    if not row.is_active:
        raise Unauthenticated("该用户已被停用", field="Authorization")
    return Principal(user_id=row.id, username=row.username, role=row.role, unit_id=row.unit_id,
                     unit_path=row.path, volunteer_id=row.volunteer_id, desk_id=row.desk_id,
                     created_by=row.created_by)


def authenticate(engine: Engine, token: str, now: dt.datetime) -> Principal:
    """`principal_for_token` on a connection of its own in autocommit: one statement, one round trip."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return principal_for_token(conn, token, now)


def principal_for_user(session: Session, user: User) -> Principal:
    """The principal of a user, with the path of the unit they are scoped to."""
    path = None
    if user.unit_id is not None:
        path = session.execute(select(Unit.path).where(Unit.id == user.unit_id)).scalar_one_or_none()
    return Principal(user_id=user.id, username=user.username, role=user.role, unit_id=user.unit_id,
                     unit_path=path, volunteer_id=user.volunteer_id, desk_id=user.desk_id,
                     created_by=user.created_by)


def revoke_token(session: Session, token: str) -> None:
    """Revoke a token (sign out)."""
    api_token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_digest(token))).scalar_one_or_none()
    if api_token is not None and api_token.revoked_at is None:
        api_token.revoked_at = utcnow()


def user_named(session: Session, username: str, field: str = "as_user") -> User:
    """The user with this username (for the command line's --as-user)."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"no user {username!r}", field=field)
    return user


def principal_named(session: Session, username: str | None, field: str = "as_user") -> Principal:
    """The principal of a named user; the system itself when no name is given."""
    if not username:
        return SYSTEM
    return principal_for_user(session, user_named(session, username, field))
