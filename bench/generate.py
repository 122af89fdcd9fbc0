"""A deterministic county-to-province data set, loaded through the product's own paths.

Units, teams, users, policies and desks go through the domain functions (`org`, `auth`,
`policies`, `desks`); volunteers, memberships and activities are appended in bulk (COPY /
executemany: registration one by one would only measure HMAC and round trips); service
records are posted through `ledger.service.bulk.post_approved`, the product's bulk posting path,
in chronological batches.  The same seed and size give the same data set.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import text

from ledger.incentives import policies
from ledger.incentives.pricing import default_policy_text
from ledger.people import auth, org
from ledger.people.access import SYSTEM
from ledger.people.auth import principal_for_user
from ledger.people.tables import User
from ledger.redemption import desks, stock
from ledger.service import bulk
from ledger.store.partitions import prepare_months
from ledger.store.uow import Context

CATEGORIES = ["理论政策宣讲", "文化文艺", "助学支教", "医疗健身", "科学普及", "法律服务", "卫生环保", "扶贫帮困"]
TITLES = {"理论政策宣讲": "政策宣讲进村", "文化文艺": "广场舞教学", "助学支教": "周末课堂", "医疗健身": "义诊",
          "科学普及": "科普讲座", "法律服务": "法律咨询", "卫生环保": "垃圾分类宣传", "扶贫帮困": "走访困难户"}
START, YEARS = dt.date(2023, 1, 1), 3
MINUTES = [60, 90, 120, 120, 150, 180, 240]


@dataclass(frozen=True)
class Size:
    """How big a data set is."""

    counties: int
    institutes: int  # per county
    stations: int  # per institute
    volunteers: int
    records: int  # service records of ordinary volunteers (4 postings each)
    long_history_records: int  # of one volunteer (1M postings at full size)
    batch: int  # records per bulk batch
    self_service_users: int = 200  # volunteers who get a token (self-lookup over HTTP)


SIZES = {
    "tiny": Size(1, 3, 4, 500, 4_000, 2_000, 2_000, 50),  # for the tests of bench/ itself
    "small": Size(1, 12, 10, 10_000, 50_000, 25_000, 10_000),
    "medium": Size(4, 15, 12, 100_000, 450_000, 50_000, 20_000),  # 2M postings: between the two
    "full": Size(20, 15, 12, 1_000_000, 4_750_000, 250_000, 20_000),
}


@dataclass
class DataSet:
    """What the generator made: ids the figures need, and how long loading took."""

    size: str
    seed: int
    centers: list[int] = field(default_factory=list)
    stations: list[int] = field(default_factory=list)
    volunteer_ids: range = range(0)
    long_volunteer_id: int = 0
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token
    volunteer_tokens: dict[int, str] = field(default_factory=dict)
    desk_items: list[tuple[int, int, int]] = field(default_factory=list)  # (desk, item, price)
    load: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """The data set's ids and tokens, to measure it again later (`--reuse`)."""
        body = {**self.__dict__, "volunteer_ids": [self.volunteer_ids.start, self.volunteer_ids.stop],
                "volunteer_tokens": {str(k): v for k, v in self.volunteer_tokens.items()}}
        return json.dumps(body, ensure_ascii=False)

    @classmethod
    def from_json(cls, text_: str) -> "DataSet":
        body = json.loads(text_)
        body["volunteer_ids"] = range(*body["volunteer_ids"])
        body["volunteer_tokens"] = {int(k): v for k, v in body["volunteer_tokens"].items()}
        body["desk_items"] = [tuple(item) for item in body["desk_items"]]
        return cls(**body)


def _users(ctx: Context, data: DataSet) -> None:
    with ctx.uow() as uow:
        s = uow.session
        for name in ("recorder", "approver", "desk-admin"):
            user = auth.create_user(s, SYSTEM, auth.CreateUser(username=f"bench-{name}", role="admin"))
            data.tokens[name] = auth.issue_token(s, user, label="bench")
        uow.commit()


def principal(ctx: Context, username: str):
    """The principal of a bench user."""
    with ctx.uow() as uow:
        user = uow.session.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one()
        return principal_for_user(uow.session, uow.session.get(User, user))


def _units(ctx: Context, size: Size, data: DataSet) -> dict[int, int]:
    """The tree; returns station -> county center."""
    county_of: dict[int, int] = {}
    with ctx.uow() as uow:
        s = uow.session
        for c in range(size.counties):
            center = org.create_unit(s, SYSTEM, org.CreateUnit(f"C{c:03d}", f"第{c + 1}县新时代文明实践中心",
                                                               "center", population=400_000))["id"]
            data.centers.append(center)
            for i in range(size.institutes):
                institute = org.create_unit(s, SYSTEM, org.CreateUnit(
                    f"C{c:03d}I{i:02d}", f"第{i + 1}镇新时代文明实践所", "institute", center,
                    population=30_000))["id"]
                for k, category in enumerate(CATEGORIES):
                    org.create_team(s, SYSTEM, org.CreateTeam(f"C{c:03d}I{i:02d}T{k}", f"{category}志愿服务队",
                                                              institute, category))
                for t in range(size.stations):
                    station = org.create_unit(s, SYSTEM, org.CreateUnit(
                        f"C{c:03d}I{i:02d}S{t:02d}", f"第{t + 1}村新时代文明实践站", "station", institute,
                        population=2_000))["id"]
                    data.stations.append(station)
                    county_of[station] = center
        uow.commit()
    return county_of


def _policies(ctx: Context, data: DataSet, long_point: int) -> None:
    """Each county raises its rate to 12 points an hour from 2024; the stress point has no caps."""
    base = default_policy_text()
    raised = base.replace("per_hour = 10 ", "per_hour = 12 ")
    uncapped = base.split("[caps]")[0] + "[complaints]" + base.split("[complaints]")[1]
    with ctx.uow() as uow:
        for center in data.centers:
            policies.publish_policy(uow.session, SYSTEM, policies.PublishPolicy(center, dt.date(2024, 1, 1), raised))
        policies.publish_policy(uow.session, SYSTEM, policies.PublishPolicy(long_point, START, uncapped))
        uow.commit()


def _copy(ctx: Context, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with ctx.uow() as uow:
        for start in range(0, len(rows), 50_000):
            bulk.copy_rows(uow.session, table, columns, rows[start:start + 50_000])
        uow.commit()


def _volunteers(ctx: Context, size: Size, rng: random.Random, data: DataSet, long_point: int) -> list[int]:
    """Volunteers (bulk); returns each volunteer's home station (index = id - first id)."""
    with ctx.engine.connect() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM volunteers")).scalar_one()
    homes = [rng.choice(data.stations) for _ in range(size.volunteers)]
    homes[0] = long_point  # the first volunteer serves at the stress point: the long history
    now = dt.datetime.now(dt.timezone.utc)
    rows, members = [], []
    for n, home in enumerate(homes):
        vid = first + n
        digest = hashlib.sha256(f"{data.seed}:{vid}".encode()).hexdigest()
        registered = START - dt.timedelta(days=rng.randrange(0, 1500))
        rows.append((vid, f"V{vid:09d}", f"志愿者{vid}", "居民身份证", digest, "3303**********123X",
                     None, None, rng.random() < 0.3, registered, home, "active", now))
        members.append((vid, home, True, "志愿者", registered, now))
    _copy(ctx, "volunteers", ("id", "number", "name", "id_type", "id_hash", "id_masked", "phone_hash",
                              "phone_masked", "is_party_member", "registered_on", "home_unit_id", "status",
                              "created_at"), rows)
    _copy(ctx, "memberships", ("volunteer_id", "unit_id", "is_home", "role", "valid_from", "created_at"), members)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('volunteers', 'id'), "
                              "(SELECT MAX(id) FROM volunteers))"))
    data.volunteer_ids = range(first, first + size.volunteers)
    data.long_volunteer_id = first
    return homes


def _activities(ctx: Context, rng: random.Random, stations: list[int]) -> dict[tuple[int, int], list[tuple]]:
    """Three activities per station per month; returns (station, month index) -> [(id, day)]."""
    with ctx.engine.connect() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM activities")).scalar_one()
    rows, found = [], {}
    now = dt.datetime.now(dt.timezone.utc)
    for station in stations:
        for month in range(12 * YEARS):
            year, mon = START.year + month // 12, month % 12 + 1
            for _ in range(3):
                category = rng.choice(CATEGORIES)
                day = dt.date(year, mon, rng.randrange(1, 29))
                tags = '["应急"]' if rng.random() < 0.05 else "[]"
                aid = first + len(rows)
                rows.append((aid, station, None, TITLES[category], category, day, "", tags,
                             rng.random() < 0.3, "", None, now))
                found.setdefault((station, month), []).append((aid, day))
    columns = ("id", "unit_id", "team_id", "title", "category", "held_on", "place", "tags", "is_concentrated",
               "organiser", "created_by", "created_at")
    if ctx.engine.dialect.name == "sqlite":
        rows = [r[:7] + (json.loads(r[7]),) + r[8:] for r in rows]
    _copy(ctx, "activities", columns, rows)
    if ctx.engine.dialect.name == "postgresql":
        with ctx.engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('activities', 'id'), "
                              "(SELECT MAX(id) FROM activities))"))
    return found


def day_activities(ctx: Context, unit_id: int, title: str, category: str, first_day: dt.date, days: int) -> int:
    """One activity a day at a unit from `first_day`, with consecutive ids; returns the first id.

    A service lies on its activity's day: the long history and the write benchmarks serve
    every day, so they need an activity every day (the id of a day is first + days since).
    """
    from sqlalchemy import insert

    from ledger.service.tables import Activity

    now = dt.datetime.now(dt.timezone.utc)
    with ctx.engine.begin() as conn:
        first = conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM activities")).scalar_one()
        conn.execute(insert(Activity.__table__), [
            {"id": first + n, "unit_id": unit_id, "title": title, "category": category,
             "held_on": first_day + dt.timedelta(days=n), "place": "", "tags": [], "is_concentrated": False,
             "organiser": "", "created_at": now} for n in range(days)])
        if ctx.engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('activities', 'id'), "
                              "(SELECT MAX(id) FROM activities))"))
    return first


def _service_plan(size: Size, rng: random.Random, data: DataSet, homes: list[int], activities: dict,
                  recorder: int) -> list[bulk.ApprovedService]:
    """Ordinary volunteers' services, chronological, never two on one day for one volunteer."""
    per_month = size.records // (12 * YEARS)
    first = data.volunteer_ids.start
    plan: list[bulk.ApprovedService] = []
    for month in range(12 * YEARS):
        taken: set[tuple[int, dt.date]] = set()
        month_plan = []
        while len(month_plan) < per_month:
            n = min(int(rng.paretovariate(1.2)) - 1, size.volunteers - 2) if rng.random() < 0.5 \
                else rng.randrange(size.volunteers - 1)
            vid = first + 1 + (n * 7919) % (size.volunteers - 1)  # spread the keen ones over ids
            aid, day = rng.choice(activities[(homes[vid - first], month)])
            if (vid, day) in taken:
                continue
            taken.add((vid, day))
            start = dt.datetime.combine(day, dt.time(rng.randrange(8, 19)))
            month_plan.append(bulk.ApprovedService(vid, aid, start, start + dt.timedelta(minutes=rng.choice(MINUTES)),
                                                   recorder, source="bench"))
        month_plan.sort(key=lambda s: s.started_at)
        plan.extend(month_plan)
    return plan


def _long_plan(size: Size, data: DataSet, first_activity: int, recorder: int) -> list[bulk.ApprovedService]:
    """One volunteer's very long history at the uncapped stress point: short services, every day
    (each in that day's activity: `day_activities` from START)."""
    days = 365 * YEARS
    per_day = -(-size.long_history_records // days)
    minutes = max(1, 1380 // per_day - 1)
    plan = []
    for n in range(size.long_history_records):
        day = START + dt.timedelta(days=n // per_day)
        start = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=(n % per_day) * (minutes + 1))
        plan.append(bulk.ApprovedService(data.long_volunteer_id, first_activity + (day - START).days, start,
                                         start + dt.timedelta(minutes=minutes), recorder, source="bench"))
    return plan


def _post(ctx: Context, approver, plan: list[bulk.ApprovedService], batch: int, progress,
          workers: int = 1) -> tuple[int, int, float]:
    """Post the plan in batches; with workers > 1, streams of disjoint volunteers in parallel."""
    streams = [[s for s in plan if s.volunteer_id % workers == n] for n in range(workers)]
    totals = [0, 0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run(stream: list[bulk.ApprovedService]) -> None:
        try:
            for start in range(0, len(stream), batch):
                with ctx.uow() as uow:
                    result = bulk.post_approved(uow.session, approver, stream[start:start + batch],
                                                ctx.local_now())
                    uow.commit()
                with lock:
                    totals[0] += result.records
                    totals[1] += result.postings
                    if progress:
                        progress(f"  posted {totals[0]:,}/{len(plan):,} records")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(stream,)) for stream in streams if stream]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return totals[0], totals[1], time.perf_counter() - started


def _desks(ctx: Context, data: DataSet, rng: random.Random) -> None:
    """One desk (爱心超市) per county with a small catalogue in deep stock."""
    with ctx.uow() as uow:
        s = uow.session
        for n, center in enumerate(data.centers):
            desk = desks.create_desk(s, SYSTEM, desks.CreateDesk(center, f"D{n:03d}", f"第{n + 1}县爱心超市",
                                                                 (1, 2, 3, 4, 5, 6, 7)))
            for name, price in (("毛巾", 20), ("洗衣液", 50), ("大米5kg", 120), ("理发服务", 30)):
                item = desks.add_item(s, SYSTEM, desk.id, desks.AddItem(name=name, price_points=price))
                stock.receive(s, SYSTEM, desk.id, item.id, 10_000_000, "donation", "bench", START)
                data.desk_items.append((desk.id, item.id, price))
        uow.commit()


def _self_service(ctx: Context, size: Size, rng: random.Random, data: DataSet) -> None:
    chosen = [data.long_volunteer_id] + rng.sample(list(data.volunteer_ids[1:]), size.self_service_users)
    with ctx.uow() as uow:
        for vid in chosen:
            user = auth.create_user(uow.session, SYSTEM, auth.CreateUser(username=f"bench-v{vid}", role="volunteer",
                                                                        volunteer_id=vid))
            data.volunteer_tokens[vid] = auth.issue_token(uow.session, user, label="bench")
        uow.commit()


def generate(ctx: Context, size_name: str, seed: int = 42, progress=None, loaders: int = 2) -> DataSet:
    """Build the data set of one size into an empty, migrated database."""
    size, rng = SIZES[size_name], random.Random(seed)
    data = DataSet(size=size_name, seed=seed)
    started = time.perf_counter()
    _users(ctx, data)
    county_of = _units(ctx, size, data)
    with ctx.uow() as uow:
        long_point = org.create_unit(uow.session, SYSTEM, org.CreateUnit(
            "STRESS", "长期服务点", "point", data.stations[0]))["id"]
        uow.commit()
    county_of[long_point] = county_of[data.stations[0]]
    _policies(ctx, data, long_point)
    homes = _volunteers(ctx, size, rng, data, long_point)
    activities = _activities(ctx, rng, data.stations + [long_point])
    recorder, approver = principal(ctx, "bench-recorder"), principal(ctx, "bench-approver")
    data.load["setup_s"] = round(time.perf_counter() - started, 1)
    plan = _service_plan(size, rng, data, homes, activities, recorder.user_id)
    workers = 1 if ctx.is_sqlite else loaders
    # the months of the data set get their partitions before the loaders start (the bulk path
    # would make each batch's months itself, but then under the other loader's open batch)
    prepare_months(ctx.engine, {s.started_at.date() for s in plan})
    records, postings, seconds = _post(ctx, approver, plan, size.batch, progress, workers)
    data.load.update(records=records, postings=postings, seconds=round(seconds, 2),
                     batch=size.batch, loaders=workers, records_per_s=round(records / seconds),
                     postings_per_s=round(postings / seconds))
    long_activity = day_activities(ctx, long_point, "长期服务", "文化文艺", START, 365 * YEARS + 1)
    l_records, l_postings, l_seconds = _post(ctx, approver, _long_plan(size, data, long_activity, recorder.user_id),
                                             size.batch, progress)
    data.load.update(long_records=l_records, long_postings=l_postings, long_seconds=round(l_seconds, 2))
    _desks(ctx, data, rng)
    _self_service(ctx, size, rng, data)
    data.load["total_s"] = round(time.perf_counter() - started, 1)
    return data
