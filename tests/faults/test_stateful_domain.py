"""A stateful property test of the whole domain against a small reference model.

Hypothesis drives a sequence of business events — record, approve, reverse, transfer,
redeem, cancel, expire, rank — through the domain functions; a model written here, from
the design and the default policy rather than from the code, predicts every outcome.
After every step each volunteer's hours, points, star level (星级) and home unit agree
with the model; each ranking run agrees with the model's ranking; `verify` passes at the
end of each example.  On SQLite and PostgreSQL (`fresh_ctx`).

The model of the default policy (ledger/incentives/default_policy.toml), for services in 2023–2025
(its holiday ranges are 2026 dates, so only the monthly 志愿服务日 on the 5th applies):
  credited = min(minutes, 480 per record, 600 − credited already that day)
  points   = half_up(credited × 10 / 60 × (1.2 on the 5th, else 1))
  stars    = one per threshold reached: 100 h, 300 h (600 h needs 12 months registered, ...)
  expiry   = points earned in year Y may be spent until 31 Dec of Y+1; spending, expiring and
             transferring out take the soonest-expiring points first.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from ledger.book.accounts import balances_of
from ledger.book.integrity import verify
from ledger.errors import Conflict, InsufficientPoints, LedgerError, ValidationFailed
from ledger.incentives.expiry import expire_points
from ledger.incentives.pricing import current_star_level
from ledger.people.tables import Volunteer
from ledger.rankings import runs as rankings
from ledger.redemption import desks, redeem as redemption, stock
from ledger.service import bulk, records as service_records
from ledger.service.tables import ServiceRecord
from ledger.store.uow import Context
from ledger.transfers import moves as transfers
from tests import factories as f

DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2025, 7, 5), dt.date(2025, 7, 6),
        dt.date(2025, 11, 20)]
HOURS = [8, 10, 13, 19]
LENGTHS = [30, 45, 100, 240, 480]
STAR_MINUTES = [100 * 60, 300 * 60]  # 一星, 二星 (三星 and up need more than a test reaches)
ITEM_PRICE = 7
SEED_DAYS = [dt.date(2023, 4, d) for d in (10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25, 26)]


def id_number() -> str:
    """A made-up 身份证号 unlikely to clash in a shared database (random birth date too)."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(365 * 50))
    return f.random_id_number(birth.strftime("%Y%m%d"))


def model_points(credited: int, day: dt.date) -> int:
    multiplier = Decimal("1.2") if day.day == 5 else Decimal(1)
    exact = Decimal(credited) * 10 * multiplier / 60
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def model_stars(minutes: int) -> int:
    return sum(1 for threshold in STAR_MINUTES if minutes >= threshold)


@dataclass
class ModelRecord:
    id: int
    volunteer: int
    start: dt.datetime
    end: dt.datetime
    minutes: int
    status: str = "pending"
    credited: int = 0
    points: int = 0


@dataclass
class ModelVolunteer:
    id: int
    home: int
    home_since: dt.date = dt.date(2020, 1, 1)
    earned: dict = field(default_factory=dict)  # service year -> points (lots)
    taken: int = 0  # redeemed − cancelled + expired
    credited: int = 0  # minutes

    @property
    def minutes(self) -> int:
        return self.credited

    @property
    def points(self) -> int:
        return sum(self.earned.values()) - self.taken


class DomainMachine(RuleBasedStateMachine):
    ctx: Context  # set by the test, per engine

    @initialize()
    def build(self):
        ctx = self.ctx
        self.today = ctx.today()
        self.units = f.tree(ctx)
        self.records: dict[int, ModelRecord] = {}
        # volunteers move between stations A and B: their service is recorded by an admin over both
        self.recorder, _ = f.user(ctx, "unit_admin", self.units["institute"])
        self.manager, _ = f.user(ctx, "unit_admin", self.units["institute"])
        self.activity = f.activity(ctx, self.units["station_a"], dt.date(2025, 7, 5), title="社区志愿服务")
        self.receipts: dict[str, tuple[int, int]] = {}  # number -> (volunteer, points)
        self.cancelled: set[str] = set()
        self.volunteers = [ModelVolunteer(f.volunteer(self.ctx, self.units["station_a"], id_number=id_number()),
                                          self.units["station_a"]) for _ in range(3)]
        self._seed_98_hours(self.volunteers[0])
        with ctx.uow() as uow:
            s = uow.session
            desk = desks.create_desk(s, self.manager, desks.CreateDesk(
                self.units["station_a"], f.ref("desk"), "东风村爱心超市", (1, 2, 3, 4, 5, 6, 7)))
            item = desks.add_item(s, self.manager, desk.id, desks.AddItem("洗衣液", ITEM_PRICE))
            stock.receive(s, self.manager, desk.id, item.id, 100000, "donation", "", self.today)
            definition = rankings.define_ranking(s, self.manager, {
                "code": f.ref("rank"), "name": "年度优秀志愿者", "unit_id": self.units["institute"],
                "period_kind": "year", "metrics": ["hours", "points"], "tie_break": ["id"],
                "quota": {"top_n": 2}})
            uow.commit()
        self.desk, self.item, self.definition = desk.id, item.id, definition["id"]

    def _seed_98_hours(self, volunteer: ModelVolunteer) -> None:
        """98 hours in April 2023, posted in bulk (one database round trip): 2 h from a star."""
        lengths = [480] * 12 + [120]
        starts = [dt.datetime.combine(day, dt.time(8)) for day in SEED_DAYS]
        # an activity a record (a per-activity cap sums an activity's records; the model caps each record)
        services = [bulk.ApprovedService(volunteer.id, self._activity(start.date()), start,
                                         start + dt.timedelta(minutes=minutes), recorded_by=self.recorder.user_id)
                    for start, minutes in zip(starts, lengths)]
        with self.ctx.uow() as uow:
            bulk.post_approved(uow.session, self.manager, services, self.ctx.local_now())
            uow.commit()
            ids = uow.session.execute(select(ServiceRecord.id).where(ServiceRecord.volunteer_id == volunteer.id)
                                      .order_by(ServiceRecord.started_at)).scalars().all()
        for record_id, start, minutes in zip(ids, starts, lengths):
            record = ModelRecord(record_id, volunteer.id, start, start + dt.timedelta(minutes=minutes), minutes)
            record.credited, record.points = self._credit(volunteer, start, minutes)
            record.status = "posted"
            self.records[record_id] = record

    # --- the model's own arithmetic -------------------------------------------------------

    def _credit(self, volunteer: ModelVolunteer, start: dt.datetime, minutes: int) -> tuple[int, int]:
        same_day = sum(r.credited for r in self.records.values()
                       if r.volunteer == volunteer.id and r.status == "posted" and r.start.date() == start.date())
        credited = max(0, min(minutes, 480, 600 - same_day))
        points = model_points(credited, start.date())
        volunteer.credited += credited
        volunteer.earned[start.year] = volunteer.earned.get(start.year, 0) + points
        return credited, points

    def _activity(self, day: dt.date) -> int:
        """A new activity for each record, so that the per-activity cap applies record by record."""
        return f.activity(self.ctx, self.units["station_a"], day, title="社区志愿服务")

    def _volunteer(self, volunteer_id: int) -> ModelVolunteer:
        return next(v for v in self.volunteers if v.id == volunteer_id)

    def _expect(self, work, expected: type[LedgerError] | None):
        """Run `work(session)` in a unit of work; the model says whether it must fail, and how."""
        with self.ctx.uow() as uow:
            try:
                result = work(uow.session)
            except LedgerError as exc:
                assert expected is not None and isinstance(exc, expected), \
                    f"model expected {expected and expected.__name__}, got {type(exc).__name__}: {exc.message}"
                return None
            assert expected is None, f"model expected {expected.__name__}, the domain accepted"
            uow.commit()
            return result

    # --- rules ----------------------------------------------------------------------------

    @rule(which=st.integers(0, 2), day=st.sampled_from(DAYS), hour=st.sampled_from(HOURS),
          minutes=st.sampled_from(LENGTHS))
    def record(self, which, day, hour, minutes):
        volunteer = self.volunteers[which]
        start = dt.datetime.combine(day, dt.time(hour))
        end = start + dt.timedelta(minutes=minutes)
        overlaps = any(r.volunteer == volunteer.id and r.status in ("pending", "posted")
                       and r.start < end and r.end > start for r in self.records.values())
        command = service_records.RecordService(volunteer.id, self._activity(day), start, end, minutes)
        made = self._expect(lambda s: service_records.record_service(s, self.recorder, command,
                                                                     self.ctx.local_now()).id,
                            Conflict if overlaps else None)
        if made is not None:
            self.records[made] = ModelRecord(made, volunteer.id, start, end, minutes)

    def _with_status(self, status: str) -> list[int]:
        return sorted(r.id for r in self.records.values() if r.status == status)

    @precondition(lambda self: self._with_status("pending"))
    @rule(data=st.data())
    def approve(self, data):
        record = self.records[data.draw(st.sampled_from(self._with_status("pending")))]
        self._expect(lambda s: service_records.approve_record(s, self.manager, record.id), None)
        volunteer = self._volunteer(record.volunteer)
        record.credited, record.points = self._credit(volunteer, record.start, record.minutes)
        record.status = "posted"

    @precondition(lambda self: self._with_status("posted"))
    @rule(data=st.data())
    def reverse(self, data):
        record = self.records[data.draw(st.sampled_from(self._with_status("posted")))]
        volunteer = self._volunteer(record.volunteer)
        short = volunteer.points < record.points  # the points were spent: a reversal cannot overdraw
        self._expect(lambda s: service_records.reverse_record(s, self.manager, record.id, "录入错误", self.today),
                     InsufficientPoints if short else None)
        if not short:
            record.status = "reversed"
            volunteer.credited -= record.credited
            volunteer.earned[record.start.year] -= record.points

    @rule(which=st.integers(0, 2), quantity=st.integers(1, 30))
    def redeem(self, which, quantity):
        volunteer = self.volunteers[which]
        cost = ITEM_PRICE * quantity
        short = volunteer.points < cost
        receipt = self._expect(lambda s: redemption.redeem(s, self.manager, self.desk, volunteer.id,
                                                           [redemption.Line(self.item, quantity, ITEM_PRICE)],
                                                           self.today),
                               InsufficientPoints if short else None)
        if receipt is not None:
            assert receipt["points"] == cost and receipt["balance_after"] == volunteer.points - cost
            volunteer.taken += cost
            self.receipts[receipt["number"]] = (volunteer.id, cost)

    @precondition(lambda self: set(self.receipts) - self.cancelled)
    @rule(data=st.data())
    def cancel(self, data):
        number = data.draw(st.sampled_from(sorted(set(self.receipts) - self.cancelled)))
        volunteer_id, cost = self.receipts[number]
        self._expect(lambda s: redemption.cancel(s, self.manager, self.desk, number, "顾客退回", self.today), None)
        self.cancelled.add(number)
        self._volunteer(volunteer_id).taken -= cost

    @rule(as_of=st.sampled_from([dt.date(2025, 1, 1), dt.date(2026, 1, 1)]))
    def expire(self, as_of):
        period = f"sm-{secrets.token_hex(6)}"
        result = self._expect(lambda s: expire_points(s, as_of, period, actor="test"), None)
        mine = 0
        for volunteer in self.volunteers:
            ended = sum(points for year, points in volunteer.earned.items() if dt.date(year + 1, 12, 31) < as_of)
            expiring = max(0, min(ended - volunteer.taken, volunteer.points))
            volunteer.taken += expiring
            mine += expiring
        assert result["points"] >= mine  # other examples' volunteers share the database

    @rule(which=st.integers(0, 2), days=st.integers(1, 400), to_b=st.booleans())
    def transfer(self, which, days, to_b):
        volunteer = self.volunteers[which]
        target = self.units["station_b"] if to_b else self.units["station_a"]
        on = volunteer.home_since + dt.timedelta(days=days)
        limit = self.today + dt.timedelta(days=30)
        refused = ValidationFailed if (target == volunteer.home or on > limit) else None
        command = transfers.TransferVolunteer(volunteer.id, target, on)
        moved = self._expect(lambda s: transfers.transfer_volunteer(s, self.manager, command, today=self.today,
                                                                    future_limit_days=30), refused)
        if moved is not None:
            assert moved["points_moved"] == 0  # both stations are funded by the county
            volunteer.home, volunteer.home_since = target, on

    @rule(year=st.sampled_from([2023, 2024, 2025]))
    def rank(self, year):
        run = self._expect(lambda s: rankings.run_ranking(s, self.manager, self.definition, str(year), self.today),
                           None)
        with self.ctx.uow() as uow:
            entries = rankings.run_entries(uow.session, self.manager, run["id"])
        got = [(e["subject_id"], e["minutes"], e["points"]) for e in
               sorted((e for e in entries if e["minutes"] > 0), key=lambda e: (e["rank"] is None, e["rank"] or 0))]
        totals: dict[int, list[int]] = {}
        for volunteer in self.volunteers:
            served = [r for r in self.records.values() if r.volunteer == volunteer.id and r.status == "posted"
                      and r.start.year == year]
            minutes, points = sum(r.credited for r in served), sum(r.points for r in served)
            if minutes > 0:
                totals[volunteer.id] = [minutes, points]
        expected = sorted(((v, m, p) for v, (m, p) in totals.items()), key=lambda t: (-t[1], -t[2], t[0]))
        assert got == expected, (year, got, expected)
        assert all(e["rank"] is not None for e in entries if e["minutes"] > 0)
        shortlisted = {e["subject_id"] for e in entries if e["is_shortlisted"] and e["minutes"] > 0}
        assert shortlisted == {v for v, _, _ in expected[:2]}

    # --- what must hold after every step --------------------------------------------------

    @invariant()
    def balances_stars_and_homes_agree(self):
        if not hasattr(self, "volunteers"):
            return
        with self.ctx.uow() as uow:
            s = uow.session
            for volunteer in self.volunteers:
                found = balances_of(s, volunteer.id, ["volunteer_minutes", "volunteer_points"])
                assert found == {"volunteer_minutes": volunteer.minutes, "volunteer_points": volunteer.points}, \
                    (volunteer, found)
                assert current_star_level(s, volunteer.id) == model_stars(volunteer.minutes)
                assert s.get(Volunteer, volunteer.id).home_unit_id == volunteer.home

    def teardown(self):
        if hasattr(self, "volunteers"):
            with self.ctx.uow() as uow:
                report = verify(uow.session)
                assert report.ok, report.as_dict()


def test_the_domain_agrees_with_the_reference_model(fresh_ctx):
    machine = type("Machine", (DomainMachine,), {"ctx": fresh_ctx})
    # no shrinking: each step is database work, and shrinking a failure would outrun the test
    # timeout; the unshrunk failing steps (at most 20) are printed and read well enough
    run_state_machine_as_test(machine, settings=settings(
        max_examples=15, stateful_step_count=20, deadline=None, database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
