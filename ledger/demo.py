"""Demo data for the embedded default: a county with stations, teams, volunteers, a year of
posted service (from the sample 台账), a stocked 爱心超市 desk, and fixed demo tokens for the
README tour; each demo user's console password is its name (e.g. `demo-station-admin`).

Only for local development: it refuses to run on a database that already has units.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.people import auth, org, passwords
from ledger.people.access import SYSTEM
from ledger.people.auth import token_digest
from ledger.people.tables import ApiToken, Unit, User
from ledger.redemption import desks, stock
from ledger.service import imports
from ledger.store.tables import utcnow
from ledger.store.uow import Context

DEMO_FILE = Path(__file__).with_name("demo_taizhang.csv")

# Fixed tokens so the README's curl tour works as written (local development only).
DEMO_TOKENS = {
    "demo-admin": ("admin", None),
    "demo-auditor": ("auditor", None),
    "demo-county-admin": ("unit_admin", "SF-XIAN"),
    "demo-station-admin": ("unit_admin", "DF-ZHAN"),
    "demo-institute-admin": ("unit_admin", "CG-SUO"),
    "demo-desk": ("desk_operator", "DF-ZHAN"),
}

# The demo 爱心超市 at 东风村站: name, price in points, kind, stock received.
DEMO_DESK = ("DF-AXCS", "东风村新时代文明实践站爱心超市", "DF-ZHAN", (3, 6))
DEMO_ITEMS = (("大米 5kg", 50, "goods", 20), ("食用油 1.8L", 30, "goods", 20), ("洗衣液", 20, "goods", 30),
              ("理发服务", 20, "service", 10))

UNITS = [
    # code, name, kind, parent code, population
    ("SF-XIAN", "示范县新时代文明实践中心", "center", None, 52000),
    ("CG-SUO", "城关镇新时代文明实践所", "institute", "SF-XIAN", 21000),
    ("HX-SUO", "湖西街道新时代文明实践所", "institute", "SF-XIAN", 18000),
    ("DF-ZHAN", "东风村新时代文明实践站", "station", "CG-SUO", 1800),
    ("NL-ZHAN", "南岭村新时代文明实践站", "station", "CG-SUO", 1500),
    ("XH-ZHAN", "西湖社区新时代文明实践站", "station", "HX-SUO", 6200),
    ("DF-DIAN1", "东风村文化礼堂实践点", "point", "DF-ZHAN", None),
]

TEAMS = [
    ("SF-LL", "示范县理论政策宣讲志愿服务总队", "SF-XIAN", "理论政策宣讲", "总队"),
    ("SF-WH", "示范县文化文艺志愿服务总队", "SF-XIAN", "文化文艺", "总队"),
    ("SF-YL", "示范县医疗健身志愿服务总队", "SF-XIAN", "医疗健身", "总队"),
    ("DF-WH", "东风村文艺志愿服务小队", "DF-ZHAN", "文化文艺", "小队"),
    ("NL-FP", "南岭村扶贫帮困志愿服务小队", "NL-ZHAN", "扶贫帮困", "小队"),
    ("XH-WM", "西湖社区文明创建志愿服务小队", "XH-ZHAN", "文明创建", "小队"),
]


def is_empty(session: Session) -> bool:
    """True when the database holds no units yet."""
    return session.execute(select(func.count()).select_from(Unit)).scalar_one() == 0


def seed_demo(ctx: Context) -> dict:
    """Seed the demo county; returns what was made (or {} when data already exists)."""
    with ctx.uow() as uow:
        s = uow.session
        if not is_empty(s):
            return {}
        ids = _units(s)
        for code, name, unit_code, category, level in TEAMS:
            org.create_team(s, SYSTEM, org.CreateTeam(code, name, ids[unit_code], category, level))
        desk_id = _desk(s, ids, ctx.today())
        users = _users(s, ids, desk_id)
        uow.commit()
    with ctx.uow() as uow:
        recorder = auth.principal_for_user(uow.session, uow.session.get(User, users["demo-county-admin"]))
        result = imports.import_taizhang(uow.session, recorder, ctx.secret_key, DEMO_FILE.read_bytes(),
                                         DEMO_FILE.name, ctx.local_now())
        uow.commit()
    with ctx.uow() as uow:
        approver = auth.principal_for_user(uow.session, uow.session.get(User, users["demo-admin"]))
        imports.approve_batch(uow.session, approver, result.batch)
        uow.commit()
    return {"units": len(ids), "teams": len(TEAMS), "desks": 1, "records": result.records,
            "volunteers": result.volunteers_created, "tokens": sorted(DEMO_TOKENS)}


def _units(session: Session) -> dict[str, int]:
    ids: dict[str, int] = {}
    for code, name, kind, parent, population in UNITS:
        made = org.create_unit(session, SYSTEM, org.CreateUnit(code, name, kind, ids.get(parent) if parent else None,
                                                               population=population,
                                                               responsible_person="王主任" if kind == "center" else None,
                                                               contact="0577-00000000" if kind == "center" else None))
        ids[code] = made["id"]
    return ids


def _desk(session: Session, unit_ids: dict[str, int], today: dt.date) -> int:
    code, name, unit_code, weekdays = DEMO_DESK
    desk = desks.create_desk(session, SYSTEM, desks.CreateDesk(unit_ids[unit_code], code, name, weekdays))
    for item_name, price, kind, quantity in DEMO_ITEMS:
        item = desks.add_item(session, SYSTEM, desk.id, desks.AddItem(item_name, price, kind=kind))
        stock.receive(session, SYSTEM, desk.id, item.id, quantity, "donation", "演示数据", today)
    return desk.id


def _users(session: Session, unit_ids: dict[str, int], desk_id: int) -> dict[str, int]:
    made: dict[str, int] = {}
    for token, (role, unit_code) in DEMO_TOKENS.items():
        user = auth.create_user(session, SYSTEM, auth.CreateUser(
            username=token, role=role, unit_id=unit_ids[unit_code] if unit_code else None,
            desk_id=desk_id if role == "desk_operator" else None, display_name=token))
        session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), label="demo"))
        passwords.set_password(session, user, token, utcnow(), actor="demo")  # the password is the name
        made[token] = user.id
    session.flush()
    return made
