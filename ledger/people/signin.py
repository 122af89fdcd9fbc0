"""Volunteer sign-in (志愿者登录): volunteer number plus a code the station issued.

A station admin issues a one-time code (used once, expires) or a PIN (reusable until a new
one is issued) for a volunteer in their scope; only a keyed hash of it is stored.  Signing
in with the number and the code gives a bearer token with role `volunteer` that sees only
that volunteer's data and expires.  Wrong attempts are counted per volunteer number and per
client address; past the limit, sign-in is locked for a while, even with the right code.
Every attempt is stored (and committed) whether it succeeds or not.  Attempts on one volunteer
number, or from one address, are counted one after another: each first upserts that subject's
row of `sign_in_guards`, whose lock it holds until it commits, so of 60 simultaneous wrong
guesses no more than the limit are ever evaluated.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ledger.errors import LedgerError, TooManyAttempts, Unauthenticated, ValidationFailed
from ledger.people import auth
from ledger.people.access import Principal, require_role, require_volunteer
from ledger.people.tables import SignInAttempt, SignInCode, SignInGuard, User, Volunteer
from ledger.store.tables import AuditEntry
from ledger.store.uow import Context

CODE_KINDS = ("code", "pin")
DEFAULTS = {"sign_in_max_attempts": 5, "sign_in_lockout_minutes": 15,
            "sign_in_code_hours": 72, "sign_in_session_minutes": 720}
WRONG = "志愿者编号或验证码不正确 (wrong volunteer number or code)"


@dataclass(frozen=True)
class Limits:
    """Attempt limits: wrong attempts allowed per volunteer and per address, and the lock-out."""

    per_volunteer: int
    per_address: int
    lockout: dt.timedelta
    code_ttl: dt.timedelta
    session_ttl: dt.timedelta

    @classmethod
    def from_options(cls, options: dict) -> "Limits":
        """Limits from the context's options (settings), with safe defaults."""
        merged = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
        per_volunteer = int(merged["sign_in_max_attempts"])
        return cls(per_volunteer=per_volunteer,
                   per_address=int(merged.get("sign_in_max_attempts_per_address", per_volunteer * 4)),
                   lockout=dt.timedelta(minutes=int(merged["sign_in_lockout_minutes"])),
                   code_ttl=dt.timedelta(hours=int(merged["sign_in_code_hours"])),
                   session_ttl=dt.timedelta(minutes=int(merged["sign_in_session_minutes"])))


def code_digest(secret: bytes, volunteer_id: int, code: str) -> str:
    """The stored form of a sign-in code: an HMAC bound to the volunteer."""
    message = f"sign-in:{volunteer_id}:{code.strip()}".encode("utf-8")
    return hmac.new(secret, message, "sha256").hexdigest()


def issue_code(session: Session, principal: Principal, secret: bytes, volunteer_id: int, *,
               kind: str, now: dt.datetime, limits: Limits) -> dict:
    """Issue a one-time code or a PIN for a volunteer in scope; the code is returned once.

    Issuing replaces the volunteer's earlier unused codes of the same kind.
    """
    require_role(principal, "admin", "unit_admin")
    if kind not in CODE_KINDS:
        raise ValidationFailed("kind must be 'code' (one-time) or 'pin'", field="kind")
    volunteer = require_volunteer(session, principal, volunteer_id)
    if volunteer.status != "active":
        raise ValidationFailed("this volunteer has left; no sign-in code is issued", field="volunteer_id")
    session.execute(update(SignInCode).where(
        SignInCode.volunteer_id == volunteer.id, SignInCode.kind == kind,
        SignInCode.used_at.is_(None), SignInCode.revoked_at.is_(None)).values(revoked_at=now))
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = now + limits.code_ttl if kind == "code" else None
    session.add(SignInCode(volunteer_id=volunteer.id, kind=kind, code_hash=code_digest(secret, volunteer.id, code),
                           issued_by=principal.username, issued_at=now, expires_at=expires_at))
    session.add(AuditEntry(actor=principal.username, action="sign_in_code.issue",
                           target=f"volunteer:{volunteer.id}", detail={"kind": kind}))
    session.flush()
    return {"volunteer_id": volunteer.id, "volunteer_number": volunteer.number, "kind": kind,
            "code": code, "expires_at": expires_at.isoformat() if expires_at else None}


def lockout_until(session: Session, column, value: str, allowed: int, now: dt.datetime,
                  lockout: dt.timedelta, reset_on_success: bool = True) -> dt.datetime | None:
    """When `allowed` wrong attempts fall inside the lock-out window (after the last success,
    if a success resets the count), the time the oldest of them leaves it; else None."""
    since = now - lockout
    if reset_on_success:
        last_success = session.execute(select(func.max(SignInAttempt.at)).where(
            column == value, SignInAttempt.succeeded.is_(True), SignInAttempt.at > since)).scalar()
        if last_success is not None:
            since = _aware(last_success)
    failures = session.execute(select(SignInAttempt.at).where(
        column == value, SignInAttempt.succeeded.is_(False), SignInAttempt.at > since)
        .order_by(SignInAttempt.at.desc()).limit(allowed)).scalars().all()
    if len(failures) < allowed:
        return None
    return _aware(failures[-1]) + lockout


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _locked(session: Session, number: str, address: str, now: dt.datetime, limits: Limits) -> LedgerError | None:
    # the volunteer's own success resets their count; an address's never does (else a guesser
    # with one valid code of their own could reset it between rounds of guesses)
    for column, value, allowed, whom, resets in (
            (SignInAttempt.volunteer_number, number, limits.per_volunteer, "this volunteer number", True),
            (SignInAttempt.client_address, address, limits.per_address, "this network address", False)):
        until = lockout_until(session, column, value, allowed, now, limits.lockout, resets)
        if until is not None:
            minutes = max(1, -(-int((until - now).total_seconds()) // 60))
            return TooManyAttempts(
                f"错误次数过多，请 {minutes} 分钟后再试 (too many wrong codes for {whom}; "
                f"try again in {minutes} min)", field="code", retry_after_minutes=minutes,
                locked_until=until.isoformat())
    return None


def _serialise(session: Session, number: str, address: str, now: dt.datetime) -> None:
    """Take the lock of this attempt's two subjects (always the number's first, so never a deadlock)."""
    dialect = session.get_bind().dialect.name
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    for subject in (f"number:{number}", f"address:{address}"):
        stmt = upsert(SignInGuard).values(subject=subject, touched_at=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["subject"], set_={"touched_at": now}))


def _matching_code(session: Session, secret: bytes, volunteer: Volunteer, code: str,
                   now: dt.datetime) -> SignInCode | None:
    digest = code_digest(secret, volunteer.id, code)
    rows = session.execute(select(SignInCode).where(
        SignInCode.volunteer_id == volunteer.id, SignInCode.revoked_at.is_(None),
        SignInCode.used_at.is_(None) | (SignInCode.kind == "pin"))).scalars().all()
    for row in rows:
        fresh = row.expires_at is None or _aware(row.expires_at) > now
        if fresh and hmac.compare_digest(row.code_hash, digest):
            return row
    return None


def _consume(session: Session, row: SignInCode, now: dt.datetime) -> bool:
    """Mark a one-time code used; False when another sign-in used it first."""
    if row.kind == "pin":
        return True
    result = session.execute(update(SignInCode).where(SignInCode.id == row.id, SignInCode.used_at.is_(None))
                             .values(used_at=now))
    return result.rowcount == 1


def volunteer_user(session: Session, volunteer: Volunteer) -> User:
    """The `volunteer` user of a volunteer, made on first sign-in."""
    user = session.execute(select(User).where(User.volunteer_id == volunteer.id)).scalar_one_or_none()
    if user is None:
        user = User(username=f"volunteer:{volunteer.number}", display_name=volunteer.name, role="volunteer",
                    volunteer_id=volunteer.id)
        session.add(user)
        session.flush()
    return user


def attempt_sign_in(session: Session, secret: bytes, number: str, code: str, address: str,
                    now: dt.datetime, limits: Limits, device_ttl: dt.timedelta | None = None) -> dict | LedgerError:
    """One sign-in attempt: records it and returns the session, or the error to report.

    Returns the error instead of raising it so the caller commits the attempt first.
    `device_ttl`: a long-lived session of the volunteer's own phone (ended by signing out).
    """
    number, address = (number or "").strip()[:40], (address or "unknown")[:64]
    _serialise(session, number, address, now)
    locked = _locked(session, number, address, now, limits)
    if locked is not None:
        return locked
    volunteer = session.execute(select(Volunteer).where(Volunteer.number == number)).scalar_one_or_none()
    row = None
    if volunteer is not None and volunteer.status == "active" and code:
        row = _matching_code(session, secret, volunteer, code, now)
    succeeded = row is not None and _consume(session, row, now)
    session.add(SignInAttempt(volunteer_number=number, client_address=address, at=now, succeeded=succeeded))
    session.flush()
    if not succeeded:
        return _locked(session, number, address, now, limits) or Unauthenticated(WRONG, field="code")
    user = volunteer_user(session, volunteer)
    ttl = device_ttl or limits.session_ttl
    token = auth.issue_token(session, user, label="phone" if device_ttl else "self-service sign-in", ttl=ttl)
    expires_at = now + ttl
    return {"token": token, "volunteer_id": volunteer.id, "volunteer_number": volunteer.number,
            "name": volunteer.name, "expires_at": expires_at.isoformat()}


def sign_in(ctx: Context, number: str, code: str, address: str, device_ttl: dt.timedelta | None = None) -> dict:
    """Sign a volunteer in (use case): the attempt is committed even when it fails."""
    limits = Limits.from_options(ctx.options)
    with ctx.uow() as uow:
        outcome = attempt_sign_in(uow.session, ctx.secret_key, number, code, address, ctx.now(), limits,
                                  device_ttl)
        uow.commit()
    if isinstance(outcome, LedgerError):
        raise outcome
    return outcome
