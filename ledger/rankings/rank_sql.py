"""The ranking's upper levels, in SQL: eligibility facts, the rank, the quota, the entries.

Level 3 adds to each subject of `ranking_sql.per_subject` its name, quota group, star level
as of the position and cut-off, membership at the cut-off, registration date and the
eligibility flags; level 4 ranks with ROW_NUMBER() in each quota group, ordered by the
definition's metrics and then its tie-breaks (dates included: the day the thresholds were
met, the last service, the registration; NULLs last); level 5 applies the quota.  Entries are
written with INSERT ... SELECT, so the rows never pass through Python.
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Boolean, Date, Text, and_, case, cast, false, func, insert, literal, null, or_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from ledger.incentives.tables import StarEvent
from ledger.people.tables import Membership, Team, Volunteer
from ledger.rankings.definitions import add_months, rule, tie_break_keys
from ledger.rankings.sql import Subtree, _root, counted_to, per_subject, report_settings, subtree, unit_groups
from ledger.rankings.tables import RankingEntry, RankingRun

ENTRY_COLUMNS_V1 = ("subject_id", "subject_name", "subject_number", "group_unit_id", "minutes", "points",
                    "activities", "rating_sum", "rating_count", "tx_count", "year_minutes", "star_level",
                    "is_eligible", "lacks_hours", "lacks_star", "has_reversed_record", "lacks_membership",
                    "rank", "is_shortlisted")
# entries_format 2: the dates behind the tie-breaks and the flags of the rules added with them
ENTRY_COLUMNS = ENTRY_COLUMNS_V1 + ("threshold_on", "last_service_on", "registered_on", "upheld_complaints",
                                    "lacks_points", "lacks_activities", "has_upheld_complaint",
                                    "lacks_registration")
FLAGS = ("lacks_hours", "lacks_points", "lacks_star", "lacks_activities", "has_reversed_record",
         "has_upheld_complaint", "lacks_registration", "lacks_membership")


def entry_columns(entries_format: int) -> tuple[str, ...]:
    """The figures a run of this entries format stores and hashes."""
    return ENTRY_COLUMNS_V1 if entries_format == 1 else ENTRY_COLUMNS


def _star_as_of(run: RankingRun):
    numbered = select(StarEvent.volunteer_id, StarEvent.level_after, func.row_number().over(
        partition_by=StarEvent.volunteer_id, order_by=StarEvent.id.desc()).label("rn")).where(
        StarEvent.id <= run.star_position, StarEvent.occurred_on <= counted_to(run)).subquery("stars")
    return select(numbered.c.volunteer_id, numbered.c.level_after).where(numbered.c.rn == 1).subquery("star")


def _home_at_end(units: Subtree, run: RankingRun):
    """The home unit in the subtree of each volunteer at the cut-off (the subtree's
    memberships only: on PostgreSQL read through the memberships' unit index)."""
    end = counted_to(run)
    return (select(Membership.volunteer_id, func.min(Membership.unit_id).label("unit_id"))
            .where(Membership.is_home.is_(True), Membership.valid_from <= end,
                   or_(Membership.valid_to.is_(None), Membership.valid_to > end),
                   units.contains(Membership.unit_id))
            .group_by(Membership.volunteer_id)).subquery("home")


def _subjects(session: Session, doc: dict, run: RankingRun, subj):
    """Level 3 without the flags: names, registration, star level, quota group, membership."""
    root = _root(session, doc["unit_id"])
    units = subtree(session, root.path)
    groups = unit_groups(session, root)
    group = func.coalesce(groups.c.group_id, root.id)
    if doc["subject"] != "volunteer":
        return (select(subj, Team.name.label("subject_name"), Team.code.label("subject_number"),
                       cast(null(), Date).label("registered_on"), literal(0).label("star_level"),
                       group.label("group_unit_id"), false().label("no_home"))
                .join(Team, Team.id == subj.c.subject_id)
                .outerjoin(groups, groups.c.unit_id == Team.unit_id))
    star, home = _star_as_of(run), _home_at_end(units, run)
    no_home = home.c.unit_id.is_(None) if doc["eligibility"]["active_membership"] else false()
    return (select(subj, Volunteer.name.label("subject_name"), Volunteer.number.label("subject_number"),
                   Volunteer.registered_on.label("registered_on"),
                   func.coalesce(star.c.level_after, 0).label("star_level"), group.label("group_unit_id"),
                   no_home.label("no_home"))
            .join(Volunteer, Volunteer.id == subj.c.subject_id)
            .outerjoin(star, star.c.volunteer_id == subj.c.subject_id)
            .outerjoin(home, home.c.volunteer_id == subj.c.subject_id)
            .outerjoin(groups, groups.c.unit_id == func.coalesce(home.c.unit_id, Volunteer.home_unit_id)))


def with_facts(session: Session, doc: dict, run: RankingRun):
    """Level 3: the subjects and their eligibility flags (资格条件), each rule off unless written."""
    root = _root(session, doc["unit_id"])
    subj = per_subject(doc, subtree(session, root.path), run)
    people = _subjects(session, doc, run, subj).subquery("people")
    rules = doc["eligibility"]
    by_year = rules["min_hours_basis"] == "year"
    minutes = people.c.year_minutes if by_year else people.c.minutes
    points = people.c.year_points if by_year else people.c.points
    months = rule(rules, "min_registration_months")
    registered_by = add_months(counted_to(run), -months)
    flags = {
        "lacks_hours": minutes < rules["min_minutes"],
        "lacks_points": points < rule(rules, "min_points"),
        "lacks_star": people.c.star_level < rules["min_star_level"],
        "lacks_activities": people.c.activities < rule(rules, "min_activities"),
        "has_reversed_record": (people.c.has_reversal == 1) if rules["no_reversed_records"] else false(),
        "has_upheld_complaint": (people.c.upheld_complaints > 0) if rule(rules, "no_upheld_complaint") else false(),
        "lacks_registration": (people.c.registered_on > registered_by) if months else false(),
        "lacks_membership": people.c.no_home,
    }
    return select(people, *[case((flag, true()), else_=false()).label(name) for name, flag in flags.items()]
                  ).subquery("facts")


def _order_terms(doc: dict, facts) -> list:
    """The metrics (more first), then the tie-breaks in the definition's order and direction."""
    rating_key = case((facts.c.rating_count == 0, -1),
                      else_=facts.c.rating_sum * 10000 / facts.c.rating_count)
    keys = {"hours": facts.c.minutes, "points": facts.c.points, "activities": facts.c.activities,
            "rating": rating_key, "threshold_reached": facts.c.threshold_on, "last_service": facts.c.last_service_on,
            "earlier_registration": facts.c.registered_on, "number": facts.c.subject_number,
            "id": facts.c.subject_id}
    terms = [keys[name].desc() for name in doc["metrics"]]
    for name, order in tie_break_keys(doc):
        term = keys[name].asc() if order == "asc" else keys[name].desc()
        terms.append(term.nulls_last())
    return terms + [facts.c.subject_id.asc()]


def ranked(session: Session, doc: dict, run: RankingRun):
    """Levels 4 and 5: the rank in each quota group and the shortlist, as a SELECT."""
    facts = with_facts(session, doc, run)
    eligible = and_(*[facts.c[name] == false() for name in FLAGS])
    is_eligible = case((eligible, true()), else_=false())
    partition = [is_eligible] + ([facts.c.group_unit_id] if doc["quota"]["per"] == "unit" else [])
    numbered = select(facts, is_eligible.label("is_eligible"),
                      func.row_number().over(partition_by=partition, order_by=_order_terms(doc, facts)).label("rn"),
                      func.count().over(partition_by=partition).label("n_group")).subquery("numbered")
    quota = doc["quota"]
    if "top_n" in quota:
        cut = literal(quota["top_n"])
    else:
        share = Decimal(quota["top_share"]).as_integer_ratio()
        raw = numbered.c.n_group * share[0] / share[1]
        cut = case((raw < 1, 1), else_=raw)
    ok = numbered.c.is_eligible == true()
    plain = ("subject_id", "subject_name", "subject_number", "group_unit_id", "minutes", "points", "activities",
             "rating_sum", "rating_count", "tx_count", "year_minutes", "star_level", "is_eligible", "threshold_on",
             "last_service_on", "registered_on", "upheld_complaints")
    return select(
        *[numbered.c[name] for name in plain], *[cast(numbered.c[name], Boolean).label(name) for name in FLAGS],
        case((ok, numbered.c.rn), else_=null()).label("rank"),
        case((and_(ok, numbered.c.rn <= cut), true()), else_=false()).label("is_shortlisted"),
    )


def insert_entries(session: Session, doc: dict, run: RankingRun) -> tuple[int, int, int, str] | None:
    """Write the run's entries with one INSERT ... SELECT.

    On PostgreSQL the same statement returns (candidates, eligible, shortlisted, entries hash)
    over the rows it wrote (a data-modifying CTE): the hash lines are rendered by
    json_build_array, byte for byte what `rankings.entries_hash` renders with json.dumps.
    Elsewhere it returns None and the caller seals the run from the stored entries."""
    names = entry_columns(run.entries_format)
    body = ranked(session, doc, run).subquery("ranked")
    source = select(literal(run.id).label("run_id"), *[body.c[name] for name in names])
    statement = insert(RankingEntry).from_select(["run_id", *names], source)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(statement)
        return None
    written = statement.returning(*[RankingEntry.__table__.c[name] for name in names]).cte("written")
    line = cast(func.json_build_array(*[written.c[name] for name in names]), Text) + "\n"
    lines = func.string_agg(line, aggregate_order_by(literal(""), written.c.subject_id))
    seal = select(func.count(), func.count().filter(written.c.is_eligible.is_(True)),
                  func.count().filter(written.c.is_shortlisted.is_(True)),
                  func.encode(func.sha256(func.convert_to(func.coalesce(lines, ""), "UTF8")), "hex"))
    with report_settings(session):
        candidates, eligible, shortlisted, digest = session.execute(seal).one()
    return int(candidates), int(eligible), int(shortlisted), digest


def compute_rows(session: Session, doc: dict, run: RankingRun):
    """The entries a run would have, recomputed now at its positions, ordered by subject."""
    body = ranked(session, doc, run).subquery("ranked")
    return session.execute(select(*[body.c[name] for name in entry_columns(run.entries_format)])
                           .order_by(body.c.subject_id).execution_options(yield_per=5000))


def entry_counts(session: Session, run_id: int) -> tuple[int, int, int]:
    """(candidates, eligible, shortlisted) of a run."""
    row = session.execute(select(
        func.count(), func.coalesce(func.sum(case((RankingEntry.is_eligible == true(), 1), else_=0)), 0),
        func.coalesce(func.sum(case((RankingEntry.is_shortlisted == true(), 1), else_=0)), 0),
    ).where(RankingEntry.run_id == run_id)).one()
    return int(row[0]), int(row[1]), int(row[2])
