"""Small factories that build data through the domain functions, with random references."""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select

from ledger.people import auth, org, volunteers
from ledger.people.access import SYSTEM, Principal
from ledger.people.auth import principal_for_user
from ledger.people.idcard import id_check_digit
from ledger.people.tables import User
from ledger.service import activities, records as service_records
from ledger.service.tables import Activity
from ledger.store.uow import Context


def ref(prefix: str = "t") -> str:
    """A random reference, so tests never collide."""
    return f"{prefix}-{secrets.token_hex(5)}"


def random_id_number(birth: str | None = None) -> str:
    """A made-up 18-digit 身份证号 with a valid GB 11643 check digit; a random birth date
    (1950–2004) unless given, so hundreds of test volunteers in one database never clash."""
    if birth is None:
        birth = (dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(20000))).strftime("%Y%m%d")
    first17 = "330322" + birth + f"{secrets.randbelow(1000):03d}"
    return first17 + id_check_digit(first17)


def tree(ctx: Context) -> dict:
    """A county center with one institute and two stations; returns their ids."""
    with ctx.uow() as uow:
        s = uow.session
        center = org.create_unit(s, SYSTEM, org.CreateUnit(ref("C"), "测试县新时代文明实践中心", "center",
                                                           population=10000))
        institute = org.create_unit(s, SYSTEM, org.CreateUnit(ref("I"), "城关镇新时代文明实践所",
                                                              "institute", center["id"], population=5000))
        station_a = org.create_unit(s, SYSTEM, org.CreateUnit(ref("S"), "东风村新时代文明实践站", "station",
                                                              institute["id"], population=1200))
        station_b = org.create_unit(s, SYSTEM, org.CreateUnit(ref("S"), "南岭村新时代文明实践站", "station",
                                                              institute["id"], population=800))
        uow.commit()
    return {"center": center["id"], "institute": institute["id"], "station_a": station_a["id"],
            "station_b": station_b["id"]}


def user(ctx: Context, role: str, unit_id: int | None = None, volunteer_id: int | None = None,
         desk_id: int | None = None) -> tuple[Principal, str]:
    """A user with a role and a token; returns (principal, token)."""
    with ctx.uow() as uow:
        created = auth.create_user(uow.session, SYSTEM, auth.CreateUser(
            username=ref(role), role=role, unit_id=unit_id, volunteer_id=volunteer_id, desk_id=desk_id))
        token = auth.issue_token(uow.session, created)
        principal = principal_for_user(uow.session, uow.session.get(User, created.id))
        uow.commit()
    return principal, token


def volunteer(ctx: Context, unit_id: int, *, name: str = "张三", registered_on: dt.date | None = None,
              id_number: str | None = None, is_party_member: bool = False) -> int:
    """Register a volunteer at a unit; returns the id."""
    with ctx.uow() as uow:
        created = volunteers.register_volunteer(
            uow.session, SYSTEM, ctx.secret_key,
            volunteers.RegisterVolunteer(name=name, home_unit_id=unit_id,
                                         id_number=id_number or random_id_number(),
                                         phone="151" + f"{secrets.randbelow(10**8):08d}",
                                         is_party_member=is_party_member,
                                         registered_on=registered_on or dt.date(2020, 1, 1)),
            ctx.today())
        uow.commit()
        return created.id


def activity(ctx: Context, unit_id: int, held_on: dt.date, *, category: str = "文化文艺",
             tags: tuple[str, ...] = (), title: str = "广场舞教学", team_id: int | None = None,
             is_concentrated: bool = False) -> int:
    """Create an activity; returns the id."""
    with ctx.uow() as uow:
        created = activities.create_activity(uow.session, SYSTEM, activities.CreateActivity(
            unit_id=unit_id, title=title, category=category, held_on=held_on, tags=tags, team_id=team_id,
            is_concentrated=is_concentrated), None)
        uow.commit()
        return created.id


def activity_on(ctx: Context, activity_id: int, day: dt.date) -> int:
    """The activity itself when it is held on `day`, else one like it (same unit, title, category,
    tags, team) held that day, made once: a service lies on its activity's day."""
    with ctx.uow() as uow:
        found = uow.session.get(Activity, activity_id)
        if found.held_on == day:
            return activity_id
        twin = uow.session.execute(select(Activity.id).where(
            Activity.unit_id == found.unit_id, Activity.title == found.title, Activity.category == found.category,
            Activity.team_id == found.team_id, Activity.held_on == day).order_by(Activity.id).limit(1)).scalar()
        if twin is not None and uow.session.get(Activity, twin).tags == found.tags:
            return twin
        created = activities.create_activity(uow.session, SYSTEM, activities.CreateActivity(
            unit_id=found.unit_id, title=found.title, category=found.category, held_on=day,
            tags=tuple(found.tags or ()), team_id=found.team_id, is_concentrated=found.is_concentrated,
            place=found.place, organiser=found.organiser), found.created_by)
        uow.commit()
        return created.id


def served(ctx: Context, recorder: Principal, approver: Principal, volunteer_id: int, activity_id: int,
           start: dt.datetime, minutes: int, *, service_kind: str | None = None) -> int:
    """Record and approve (post) a service; returns the record id (on an activity of its day)."""
    activity_id = activity_on(ctx, activity_id, start.date())
    with ctx.uow() as uow:
        record = service_records.record_service(uow.session, recorder, service_records.RecordService(
            volunteer_id=volunteer_id, activity_id=activity_id, started_at=start,
            ended_at=start + dt.timedelta(minutes=minutes), minutes=minutes, service_kind=service_kind),
            ctx.local_now())
        uow.commit()
        record_id = record.id
    with ctx.uow() as uow:
        service_records.approve_record(uow.session, approver, record_id)
        uow.commit()
    return record_id
