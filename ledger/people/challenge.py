"""A simple challenge (人机验证) for the public forms: a sum to answer, signed, expiring.

The challenge is stateless: the token carries the two numbers, an expiry and a nonce, and
an HMAC under the server's secret, so nobody can mint one with a known answer.  A form that
must not accept one challenge twice stores `challenge_digest(token)` under a unique key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from ledger.errors import ValidationFailed

TTL = dt.timedelta(minutes=10)
WRONG = "验证题答案不正确或已过期，请重新获取验证题 (the challenge answer is wrong or expired)"


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(secret, f"challenge:{body}".encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def same_text(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret with what a client sent (any text, even non-ASCII)."""
    return hmac.compare_digest(expected.encode("utf-8"), str(given).encode("utf-8", "surrogatepass"))


def issue_challenge(secret: bytes, now: dt.datetime) -> dict:
    """A new challenge: its token and the question shown to the person."""
    first, second = 1 + secrets.randbelow(9), 1 + secrets.randbelow(9)
    body = f"{first}.{second}.{int((now + TTL).timestamp())}.{secrets.token_hex(6)}"
    return {"challenge": f"{body}.{_sign(secret, body)}", "question": f"{first} 加 {second} 等于几？"}


def check_challenge(secret: bytes, token: str | None, answer: str | int | None, now: dt.datetime) -> None:
    """Refuse (field `challenge_answer`) unless `answer` answers the signed, unexpired `token`."""
    parts = (token or "").split(".")
    if len(parts) != 5:
        raise ValidationFailed(WRONG, field="challenge_answer")
    body, signature = ".".join(parts[:4]), parts[4]
    if not same_text(_sign(secret, body), signature):
        raise ValidationFailed(WRONG, field="challenge_answer")
    first, second, expires = int(parts[0]), int(parts[1]), int(parts[2])
    try:
        given = int(str(answer).strip())
    except ValueError:
        raise ValidationFailed(WRONG, field="challenge_answer") from None
    if now.timestamp() > expires or given != first + second:
        raise ValidationFailed(WRONG, field="challenge_answer")


def challenge_digest(token: str) -> str:
    """The stored form of a used challenge (a form accepts each challenge once)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
