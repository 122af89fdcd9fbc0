"""Balance invariants, property-based: any sequence of postings and reversals — including
attempts to overdraw a volunteer's account, unbalanced legs, reversing a reversal or reversing
twice — leaves every cached balance equal to the sum of its postings, every transaction
balanced per unit of measure, and `verify` clean.  A refused write changes nothing.

A small model (a dict of balances) predicts each outcome; the test checks the ledger agrees.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict

from hypothesis import HealthCheck, event, given, settings, strategies as st
from sqlalchemy import func, select

from ledger.book.accounts import KINDS, account_id
from ledger.book.integrity import verify
from ledger.book.postings import Leg, post, reverse
from ledger.book.tables import Account, Posting
from ledger.errors import AlreadyReversed, Conflict, InsufficientPoints
from ledger.store.usecase import read

# (kind, owner slot): two volunteers' spendable points and one volunteer's minutes may never go
# below zero; the unit's accounts are the counter-side and may.
ACCOUNTS = [("volunteer_points", 0), ("volunteer_points", 1), ("unit_points_issued", 2),
            ("volunteer_minutes", 0), ("unit_minutes_served", 2)]
BY_UOM = {uom: [i for i, (kind, _) in enumerate(ACCOUNTS) if KINDS[kind][0] == uom] for uom in ("PTS", "MIN")}

amounts = st.integers(min_value=-60, max_value=60)
legs_of_one_uom = st.tuples(st.sampled_from(["PTS", "MIN"]),
                            st.lists(st.tuples(st.integers(0, 2), amounts), min_size=1, max_size=3),
                            st.integers(0, 2))
operation = st.one_of(
    st.tuples(st.just("post"), st.lists(legs_of_one_uom, min_size=1, max_size=2)),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=10_000)),
    st.tuples(st.just("unbalanced"), st.sampled_from(["PTS", "MIN"]), st.integers(1, 30)),
)


def _legs(ids: list[int], groups) -> list[Leg]:
    """Balanced legs: each group's amounts plus one leg that brings its unit of measure to zero."""
    legs = []
    for uom, parts, closer in groups:
        slots = BY_UOM[uom]
        for slot, amount in parts:
            legs.append(Leg(ids[slots[slot % len(slots)]], uom, amount))
        legs.append(Leg(ids[slots[closer % len(slots)]], uom, -sum(amount for _, amount in parts)))
    return legs


def _outcome(balances: dict[int, int], non_negative: set[int], legs: list[Leg]):
    """The model's prediction: the new balances, or InsufficientPoints."""
    after = dict(balances)
    for leg in legs:
        after[leg.account_id] += leg.amount
    if any(after[a] < 0 for a in non_negative):
        return InsufficientPoints
    return after


class Model:
    def __init__(self, ids: list[int]):
        self.balances = {a: 0 for a in ids}
        self.non_negative = {ids[i] for i, (kind, _) in enumerate(ACCOUNTS) if not KINDS[kind][1]}
        self.posted: list[dict] = []  # {"id", "legs", "is_reversal", "is_reversed"}


def _run(ctx, model: Model, op) -> None:
    today = dt.date(2026, 11, 1)
    kind = op[0]
    if kind == "post" or kind == "unbalanced":
        if kind == "post":
            legs = _legs(list(model.balances), op[1])
            expected = _outcome(model.balances, model.non_negative, legs)
        else:
            legs = [Leg(list(model.balances)[BY_UOM[op[1]][0]], op[1], op[2])]
            expected = Conflict
        _attempt(ctx, model, expected, legs, lambda s: post(
            s, kind="adjustment", key=f"prop:{secrets.token_hex(8)}", occurred_on=today,
            actor="hypothesis", legs=legs), is_reversal=False)
        return
    if not model.posted:
        return
    original = model.posted[op[1] % len(model.posted)]
    legs = [Leg(leg.account_id, leg.uom, -leg.amount) for leg in original["legs"]]
    if original["is_reversal"]:
        expected = Conflict  # a reversal cannot itself be reversed
    elif original["is_reversed"]:
        expected = AlreadyReversed
    else:
        expected = _outcome(model.balances, model.non_negative, legs)
    if _attempt(ctx, model, expected, legs, lambda s: reverse(
            s, original["id"], actor="hypothesis", occurred_on=today, memo="property test"),
            is_reversal=True):
        original["is_reversed"] = True


def _attempt(ctx, model: Model, expected, legs: list[Leg], write, *, is_reversal: bool) -> bool:
    """Run one write in its own unit of work; check it did what the model expected."""
    with ctx.uow() as uow:
        try:
            tx = write(uow.session)
        except Conflict as exc:
            assert isinstance(expected, type) and type(exc) is expected, (expected, exc)
            event(f"refused: {type(exc).__name__}")
            return False  # leaving the unit of work uncommitted rolls back
        assert isinstance(expected, dict), f"expected {expected.__name__}, but it posted"
        uow.commit()
    event("reversal posted" if is_reversal else "posted")
    model.balances = expected
    model.posted.append({"id": tx.id, "legs": [leg for leg in legs if leg.amount], "is_reversal": is_reversal,
                         "is_reversed": False})
    return True


def _check(ctx, model: Model) -> None:
    def run(session):
        cached = dict(session.execute(select(Account.id, Account.balance)
                                      .where(Account.id.in_(list(model.balances)))).all())
        summed = dict(session.execute(select(Posting.account_id, func.sum(Posting.amount))
                                      .where(Posting.account_id.in_(list(model.balances)))
                                      .group_by(Posting.account_id)).all())
        unbalanced = session.execute(select(Posting.transaction_id).group_by(Posting.transaction_id, Posting.uom)
                                     .having(func.sum(Posting.amount) != 0)).all()
        return cached, summed, unbalanced, verify(session)

    cached, summed, unbalanced, report = read(ctx, run)
    assert {a: int(b) for a, b in cached.items()} == model.balances
    assert {a: int(summed.get(a, 0)) for a in model.balances} == model.balances
    assert unbalanced == []
    assert report.ok, report.problems


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_postings_and_reversals_keep_balances_equal_to_their_postings(fresh_ctx, operations):
    owners = [secrets.randbelow(10**9) + 10**9 for _ in range(3)]  # fresh accounts per example
    with fresh_ctx.uow() as uow:
        ids = [account_id(uow.session, kind, owners[slot]) for kind, slot in ACCOUNTS]
        uow.commit()
    model = Model(ids)
    for op in operations:
        _run(fresh_ctx, model, op)
    _check(fresh_ctx, model)


def test_a_reversal_of_a_reversal_is_refused_and_changes_nothing(ctx):
    """Worked example: 30 points in, reversed (back to 0); reversing the reversal, or the
    original a second time, is refused and the balance stays 0."""
    owner = secrets.randbelow(10**9) + 10**9
    with ctx.uow() as uow:
        s = uow.session
        points, issued = account_id(s, "volunteer_points", owner), account_id(s, "unit_points_issued", owner)
        original = post(s, kind="adjustment", key=f"prop:{secrets.token_hex(8)}", occurred_on=dt.date(2026, 11, 1),
                        actor="test", legs=[Leg(points, "PTS", 30), Leg(issued, "PTS", -30)])
        reversal = reverse(s, original.id, actor="test", occurred_on=dt.date(2026, 11, 2), memo="mistake")
        uow.commit()
    for target, error, field in ((reversal.id, Conflict, "transaction_id"),
                                 (original.id, AlreadyReversed, "transaction_id")):
        with ctx.uow() as uow:
            try:
                reverse(uow.session, target, actor="test", occurred_on=dt.date(2026, 11, 3), memo="again")
            except Conflict as exc:
                assert type(exc) is error and exc.field == field
            else:
                raise AssertionError("a second reversal was posted")
    balances = read(ctx, lambda s: [int(s.get(Account, a).balance) for a in (points, issued)])
    assert balances == [0, 0]


def test_overdrawing_a_volunteer_account_is_refused_by_the_code_and_the_database(ctx):
    """10 points in; spending 11 is refused with the field; the balance stays 10."""
    owner = secrets.randbelow(10**9) + 10**9
    with ctx.uow() as uow:
        s = uow.session
        points, issued = account_id(s, "volunteer_points", owner), account_id(s, "unit_points_issued", owner)
        post(s, kind="adjustment", key=f"prop:{secrets.token_hex(8)}", occurred_on=dt.date(2026, 11, 1),
             actor="test", legs=[Leg(points, "PTS", 10), Leg(issued, "PTS", -10)])
        uow.commit()
    with ctx.uow() as uow:
        try:
            post(uow.session, kind="adjustment", key=f"prop:{secrets.token_hex(8)}", occurred_on=dt.date(2026, 11, 1),
                 actor="test", legs=[Leg(points, "PTS", -11), Leg(issued, "PTS", 11)])
        except InsufficientPoints as exc:
            assert exc.field == "amount"
        else:
            raise AssertionError("an overdraft was posted")
    assert read(ctx, lambda s: int(s.get(Account, points).balance)) == 10
    totals: dict[int, int] = defaultdict(int)
    for account, amount in read(ctx, lambda s: s.execute(
            select(Posting.account_id, Posting.amount).where(Posting.account_id.in_([points, issued]))).all()):
        totals[account] += int(amount)
    assert dict(totals) == {points: 10, issued: -10}
