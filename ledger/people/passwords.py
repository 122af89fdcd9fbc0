"""Staff passwords (工作人员密码): argon2id hashes from argon2-cffi, never hand-rolled.

A staff user (admin, unit admin, desk operator, auditor) may have a password for the console;
volunteers sign in with the codes of `signin`.  Only the hash is stored.  `check_password`
takes as long for an unknown user as for a known one, so a guesser cannot tell which
names exist.
"""
from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from ledger.people.tables import User
from ledger.store.tables import AuditEntry

MIN_LENGTH = 8
MAX_LENGTH = 200
STAFF_ROLES = ("admin", "unit_admin", "desk_operator", "auditor")

_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters
_DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")


def validate_password(password: str, field: str = "password") -> str:
    """The password, when long enough; else a Chinese error naming the field."""
    if password is None or len(password) < MIN_LENGTH:
        raise ValidationFailed(f"密码至少 {MIN_LENGTH} 个字符", field=field)
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"密码不能超过 {MAX_LENGTH} 个字符", field=field)
    return password


def hash_password(password: str) -> str:
    """The stored form of a password (argon2id, salted)."""
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches the stored hash; a missing hash costs the same time and fails."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password or "") and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with older parameters than the library's current ones."""
    return _HASHER.check_needs_rehash(stored_hash)


def set_password(session: Session, user: User, password: str, now: dt.datetime, actor: str) -> None:
    """Give a staff user a (new) password; written to the audit trail without the password."""
    if user.role not in STAFF_ROLES:
        raise ValidationFailed("志愿者用验证码登录，不设密码", field="username")
    user.password_hash = hash_password(validate_password(password))
    user.password_changed_at = now
    session.add(AuditEntry(actor=actor, action="password.set", target=f"user:{user.id}", detail={}))
    session.flush()
