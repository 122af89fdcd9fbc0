"""Worked story: the center admin publishes the default policy for the county and a local
variant for one station; records are priced and rated by the right version, and `verify`
reproduces every figure from the postings.

Default policy (ledger/incentives/default_policy.toml) at the center from 2026-01-01; the variant at
东风村站 from 2026-01-01 is the same document at 12 points an hour.  2026-11-10 has no date
tag; 文化文艺 ×1.0; two hours each:
* 东风村站 (variant): 2 h × 12 = 24 pts; rated 4 (×1.1): 26.4 → 26, bonus 2 → 26 pts.
* 南岭村站 (county default): 2 h × 10 = 20 pts; rated 5 (×1.2): 24, bonus 4 → 24 pts.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ledger.book.accounts import balance
from ledger.book.integrity import verify
from ledger.book.tables import Transaction
from ledger.incentives import policies
from ledger.incentives.pricing import default_policy_text
from ledger.service import ratings
from tests import factories as f


def test_default_policy_and_a_local_variant_price_their_records_and_verify_passes(fresh_ctx):
    ctx = fresh_ctx
    units = f.tree(ctx)
    center_admin, _ = f.user(ctx, "unit_admin", units["center"])
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    variant = default_policy_text().replace("per_hour = 10 ", "per_hour = 12 ")
    assert variant != default_policy_text()
    with ctx.uow() as uow:
        county = policies.publish_policy(uow.session, center_admin, policies.PublishPolicy(
            units["center"], dt.date(2026, 1, 1), default_policy_text()))
        local = policies.publish_policy(uow.session, center_admin, policies.PublishPolicy(
            units["station_a"], dt.date(2026, 1, 1), variant))
        uow.commit()
        county_id, local_id = county.id, local.id
    served = {}
    for unit, rating in (("station_a", 4), ("station_b", 5)):
        volunteer_id = f.volunteer(ctx, units[unit])
        activity_id = f.activity(ctx, units[unit], dt.date(2026, 11, 10))
        record_id = f.served(ctx, recorder, approver, volunteer_id, activity_id, dt.datetime(2026, 11, 10, 9), 120)
        with ctx.uow() as uow:
            ratings.rate_record(uow.session, approver, record_id, ratings.RateService(rating=rating), ctx.today())
            uow.commit()
        served[unit] = (volunteer_id, record_id)
    with ctx.uow() as uow:
        s = uow.session
        volunteer_a, record_a = served["station_a"]
        volunteer_b, record_b = served["station_b"]
        assert balance(s, "volunteer_points", volunteer_a) == 24 + 2
        assert balance(s, "volunteer_points", volunteer_b) == 20 + 4
        versions = dict(s.execute(select(Transaction.idempotency_key, Transaction.policy_version_id)
                                  .where(Transaction.service_record_id.in_((record_a, record_b)))).all())
        assert versions == {f"service:{record_a}": local_id, f"rating:{record_a}": local_id,
                            f"service:{record_b}": county_id, f"rating:{record_b}": county_id}
        report = verify(s)
    assert report.ok, report.problems
    assert report.transactions == 4 and report.postings == 2 * 4 + 2 * 2  # two services of 4 legs, two ratings of 2 (no minutes legs)
