"""Service certificates (志愿服务证明): issue, register, verify.

A certificate states a volunteer's hours in a period and the service behind them, from
posted, unreversed ledger transactions only.  Its content is fixed at issue as canonical
JSON; the registry (append-only) keeps that text, its SHA-256 and a verification code, an
HMAC of the text under the deployment's secret key.  Anyone holding the certificate number
and code can check it is genuine and unchanged; the check reveals no more than the paper
shows (the name masked).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.amounts import hours_text
from ledger.book.tables import Account, Posting, Transaction, TransactionKey
from ledger.errors import NotFound, ValidationFailed
from ledger.people.access import Principal, require_role, require_volunteer
from ledger.people.tables import Unit, User
from ledger.service.tables import Activity, ServiceRecord
from ledger.store.tables import AuditEntry
from ledger.volunteer_view.tables import Certificate

MAX_PERIOD_DAYS = 366 * 10
SELF_SERVICE_CLERK = "系统自助开具"


def canonical(content: dict) -> str:
    """The exact text a certificate's hash and code are computed over."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def verification_code(secret: bytes, text: str) -> str:
    """The code printed on a certificate: HMAC-SHA256 of its canonical content, 20 hex digits."""
    digest = hmac.new(secret, b"certificate:" + text.encode("utf-8"), "sha256").hexdigest()
    return digest[:20].upper()


def normalise_code(code: str) -> str:
    """A code as typed (any case, with dashes or spaces) in its stored form."""
    return "".join(ch for ch in (code or "") if ch.isalnum()).upper()


def display_code(code: str) -> str:
    """A code grouped for reading: ABCD-EFGH-..."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def mask_name(name: str) -> str:
    """A name with all but the first character masked: 张三 → 张*, 欧阳娜娜 → 欧***."""
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def services_in_period(session: Session, volunteer_id: int, date_from: dt.date, date_to: dt.date) -> list[dict]:
    """Posted, unreversed service in the period: date, activity, category, unit, credited minutes."""
    reversed_ids = select(TransactionKey.reverses_id).where(TransactionKey.reverses_id.is_not(None))
    rows = session.execute(
        select(Transaction.occurred_on, Activity.title, Activity.category, Unit.name, Posting.amount,
               ServiceRecord.id)
        .join(Posting, (Posting.transaction_id == Transaction.id) & (Posting.occurred_on == Transaction.occurred_on))
        .join(Account, Account.id == Posting.account_id)
        .join(ServiceRecord, ServiceRecord.id == Transaction.service_record_id)
        .join(Activity, Activity.id == ServiceRecord.activity_id)
        .join(Unit, Unit.id == ServiceRecord.unit_id)
        .where(Transaction.volunteer_id == volunteer_id, Transaction.reverses_id.is_(None),
               Transaction.id.not_in(reversed_ids), ServiceRecord.status == "posted",
               Account.kind == "volunteer_minutes", Account.owner_id == volunteer_id,
               Transaction.occurred_on >= date_from, Transaction.occurred_on <= date_to)
        .order_by(Transaction.occurred_on, ServiceRecord.id)).all()
    return [{"date": day.isoformat(), "activity": title, "category": category, "unit": unit_name,
             "minutes": int(minutes)} for day, title, category, unit_name, minutes, _ in rows if minutes > 0]


def issuing_unit(session: Session, home_unit_id: int) -> Unit:
    """The nearest unit at or above the volunteer's home unit with a responsible person (负责人)."""
    home = session.get(Unit, home_unit_id)
    ids = [int(part) for part in home.path.strip("/").split("/") if part]
    units = {u.id: u for u in session.execute(select(Unit).where(Unit.id.in_(ids))).scalars()}
    for unit_id in reversed(ids):
        unit = units.get(unit_id)
        if unit is not None and unit.responsible_person:
            return unit
    return home


def _clerk(session: Session, principal: Principal) -> str:
    if principal.role == "volunteer" or principal.user_id is None:
        return SELF_SERVICE_CLERK
    user = session.get(User, principal.user_id)
    return (user.display_name or user.username) if user else principal.username


def _check_period(date_from: dt.date, date_to: dt.date, today: dt.date) -> None:
    if date_to < date_from:
        raise ValidationFailed("结束日期早于开始日期 (the period ends before it starts)", field="date_to")
    if date_from > today:
        raise ValidationFailed("开始日期不能晚于今天 (the period starts in the future)", field="date_from")
    if (date_to - date_from).days > MAX_PERIOD_DAYS:
        raise ValidationFailed("证明期间最长十年 (a certificate covers at most ten years)", field="date_from")


def new_number(session: Session, issued_on: dt.date) -> str:
    """A fresh certificate number (证明编号): ZM + issue date + 8 random hex digits."""
    for _ in range(20):
        number = f"ZM{issued_on:%Y%m%d}{secrets.token_hex(4).upper()}"
        if not session.execute(select(Certificate.id).where(Certificate.number == number)).first():
            return number
    raise ValidationFailed("could not allocate a certificate number; retry", field="number")


def issue_certificate(session: Session, principal: Principal, secret: bytes, volunteer_id: int,
                      date_from: dt.date, date_to: dt.date, today: dt.date, deployment_name: str = "") -> dict:
    """Issue and register a certificate for the volunteer's service in [date_from, date_to].

    Refused with a clear message when the period holds no posted, unreversed service.
    """
    require_role(principal, "admin", "unit_admin", "volunteer")
    volunteer = require_volunteer(session, principal, volunteer_id)
    _check_period(date_from, date_to, today)
    date_to = min(date_to, today)
    services = services_in_period(session, volunteer.id, date_from, date_to)
    if not services:
        raise ValidationFailed(f"{date_from} 至 {date_to} 期间没有已入账的志愿服务记录，无法开具证明 "
                               f"(no posted service in this period; no certificate issued)", field="period")
    unit = issuing_unit(session, volunteer.home_unit_id)
    minutes = sum(item["minutes"] for item in services)
    number = new_number(session, today)
    content = {
        "type": "志愿服务证明", "number": number, "issued_on": today.isoformat(),
        "volunteer": {"name": volunteer.name, "id_type": volunteer.id_type,
                      "id_masked": volunteer.id_masked or "", "number": volunteer.number},
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "minutes": minutes, "hours": hours_text(minutes), "services": services,
        "issuer": {"unit": unit.name, "unit_code": unit.code,
                   "responsible_person": unit.responsible_person or "",
                   "clerk": _clerk(session, principal), "contact": unit.contact or "",
                   "deployment": deployment_name},
    }
    text = canonical(content)
    code = verification_code(secret, text)
    session.add(Certificate(number=number, volunteer_id=volunteer.id, unit_id=unit.id, period_from=date_from,
                            period_to=date_to, minutes=minutes, issued_on=today, issued_by=principal.username,
                            content=text, content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                            verification_code=code))
    session.add(AuditEntry(actor=principal.username, action="certificate.issue", target=f"certificate:{number}",
                           detail={"volunteer_id": volunteer.id, "from": date_from.isoformat(),
                                   "to": date_to.isoformat(), "minutes": minutes}))
    session.flush()
    return certificate_public(content, code)


def certificate_public(content: dict, code: str) -> dict:
    """What the holder of a certificate sees of it (everything it shows, plus the code)."""
    return {"number": content["number"], "issued_on": content["issued_on"], "period": content["period"],
            "minutes": content["minutes"], "hours": content["hours"], "services": len(content["services"]),
            "issuer": content["issuer"]["unit"], "verification_code": display_code(code)}


def require_certificate(session: Session, principal: Principal, number: str) -> tuple[dict, str]:
    """A certificate's content and code, for its volunteer or an admin in scope; else not found."""
    row = session.execute(select(Certificate).where(Certificate.number == number)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"certificate {number} not found", field="number")
    require_volunteer(session, principal, row.volunteer_id, field="number")
    return json.loads(row.content), row.verification_code


def list_certificates(session: Session, principal: Principal, volunteer_id: int) -> list[dict]:
    """The volunteer's certificates, newest first (the registry: who issued, when, for what period)."""
    require_volunteer(session, principal, volunteer_id)
    rows = session.execute(select(Certificate).where(Certificate.volunteer_id == volunteer_id)
                           .order_by(Certificate.id.desc())).scalars()
    return [{**certificate_public(json.loads(row.content), row.verification_code),
             "issued_by": row.issued_by, "issued_at": row.issued_at.isoformat()} for row in rows]


def verify_certificate(session: Session, secret: bytes, number: str, code: str) -> dict:
    """Public check: is the certificate with this number and code genuine and unchanged?

    Answers `genuine: false` with a reason for an unknown number, a wrong code or content that
    no longer matches its hash; a genuine one shows only what the paper shows, name masked.
    """
    number, code = (number or "").strip().upper(), normalise_code(code)
    row = session.execute(select(Certificate).where(Certificate.number == number)).scalar_one_or_none()
    if row is None:
        return {"genuine": False, "reason": "unknown",
                "message": "查无此证明编号，证明不是本系统出具的，或编号被改动过 (no certificate with this number)"}
    text = row.content
    expected = verification_code(secret, text)
    untouched = (hashlib.sha256(text.encode("utf-8")).hexdigest() == row.content_hash
                 and hmac.compare_digest(expected, row.verification_code))
    if not untouched or not hmac.compare_digest(expected, code):
        return {"genuine": False, "reason": "altered",
                "message": "验证码与证明编号不符，证明内容可能被改动过 (the code does not match this certificate)"}
    content = json.loads(text)
    volunteer = content["volunteer"]
    return {"genuine": True, "reason": "genuine",
            "message": "证明真实有效，内容未被改动 (genuine and unchanged)",
            "certificate": {"number": content["number"], "issued_on": content["issued_on"],
                            "name": mask_name(volunteer["name"]), "volunteer_number": volunteer["number"],
                            "period": content["period"], "hours": content["hours"],
                            "minutes": content["minutes"], "services": len(content["services"]),
                            "issuer": content["issuer"]["unit"]}}



def certificate_problems(session: Session, secret: bytes, limit: int = 20) -> tuple[int, list[dict]]:
    """Every certificate of the registry against its registered hash and its code; returns
    (certificates checked, the first `limit` that differ).  Part of the ledger's verify."""
    count, problems = 0, []
    for row in session.execute(select(Certificate.id, Certificate.number, Certificate.content,
                                      Certificate.content_hash, Certificate.verification_code)
                               .order_by(Certificate.id).execution_options(yield_per=1000)):
        count += 1
        detail = _certificate_difference(secret, row)
        if detail and len(problems) < limit:
            problems.append({"check": "certificate", "table": "certificates", "row": row.id,
                             "detail": f"certificate {row.number}: {detail}"})
    return count, problems


def _certificate_difference(secret: bytes, row) -> str:
    """What is wrong with a registered certificate, or ""."""
    if hashlib.sha256(row.content.encode("utf-8")).hexdigest() != row.content_hash:
        return "its content does not match its registered hash"
    if not hmac.compare_digest(verification_code(secret, row.content), row.verification_code):
        return "its code is not the code of its content under this deployment's secret"
    try:
        number = json.loads(row.content).get("number")
    except (ValueError, AttributeError):
        number = None
    if number != row.number:
        return "its content names another certificate number"
    return ""
