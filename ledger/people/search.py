"""Finding a volunteer the way people ask at a desk or a station: 姓名, 编号, 手机尾号, 手机号.

One box: text with a Chinese or Latin letter is a name (part of it is enough); 4 to 6 digits
are the end of a phone number (the masked phone keeps its last four, so only four are
compared) or a volunteer number; a whole phone number is found by its keyed hash; anything
else is tried as a volunteer number.  Only volunteers in the caller's scope are returned,
with their personal numbers masked.
"""
from __future__ import annotations

import re
import unicodedata

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from ledger.people.access import Principal, path_in_scope, require_role
from ledger.people.idcard import keyed_hash, normalise_phone
from ledger.people.tables import Unit, Volunteer
from ledger.people.volunteers import volunteer_public

MAX_RESULTS = 50
_DIGITS = re.compile(r"\d+")


def search_volunteers(session: Session, principal: Principal, secret: bytes, text: str,
                      limit: int = 20) -> list[dict]:
    """Volunteers in scope matching a name, a number, phone digits or a phone; name order."""
    require_role(principal, "admin", "unit_admin", "auditor", "desk_operator")
    query_text = unicodedata.normalize("NFKC", text or "").strip()
    if not query_text:
        raise ValidationFailed("请输入姓名、志愿者编号或手机号后四位", field="q")
    if len(query_text) > 40:
        raise ValidationFailed("查询内容过长", field="q")
    condition = _condition(query_text, secret)
    rows = session.execute(
        select(Volunteer, Unit.name).join(Unit, Unit.id == Volunteer.home_unit_id)
        .where(path_in_scope(principal, Unit.path), condition)
        .order_by(Volunteer.status, Volunteer.name, Volunteer.id).limit(min(limit, MAX_RESULTS))).all()
    return [{**volunteer_public(volunteer), "home_unit_name": unit_name} for volunteer, unit_name in rows]


def _condition(text: str, secret: bytes):
    """The WHERE condition for what was typed (see the module's rules)."""
    compact = re.sub(r"[\s-]", "", text)
    if _DIGITS.fullmatch(compact):
        if len(compact) >= 7:
            try:
                phone = normalise_phone(compact)
            except ValueError:
                return Volunteer.number == compact
            return or_(Volunteer.phone_hash == keyed_hash(phone, secret), Volunteer.number == compact)
        if len(compact) >= 4:
            return or_(Volunteer.phone_masked.endswith(compact[-4:]), Volunteer.number == compact)
        raise ValidationFailed("手机号请至少输入后四位", field="q")
    if re.search(r"[^\W\d_]", text):  # a letter of any script: a name (or part of one)
        return or_(Volunteer.name.contains(text, autoescape=True), Volunteer.number == text)
    return Volunteer.number == text
