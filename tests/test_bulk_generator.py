"""The benchmark's data generator (bench/generate.py) keeps working as the product grows.

It loads through the product's own paths (units, policies, desks, tokens, and
`ledger.service.bulk.post_approved`), so a change elsewhere that breaks it shows here, not the day
someone runs `make bench`.  The tiny size, on both engines: the ledger it builds verifies,
and the plan of services is the same for the same seed.
"""
from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from bench import generate
from ledger.book.integrity import verify
from ledger.store.usecase import read


@pytest.mark.slow
def test_the_tiny_data_set_loads_through_the_bulk_path_and_verifies(fresh_ctx):
    data = generate.generate(fresh_ctx, "tiny", seed=7, loaders=1)
    size = generate.SIZES["tiny"]
    # records per month are rounded down: 4,000 // 36 = 111 a month, 3,996 in 3 years
    assert data.load["records"] == 111 * 36 and data.load["long_records"] == size.long_history_records
    # every ordinary record here is 1-4 hours under the caps: 4 postings each (no zero legs)
    assert data.load["postings"] == 4 * data.load["records"]
    report = read(fresh_ctx, verify)
    assert report.ok and report.transactions == data.load["records"] + data.load["long_records"]
    with fresh_ctx.engine.connect() as conn:
        long_postings = conn.execute(text("SELECT count(*) FROM postings WHERE volunteer_id = :v"),
                                     {"v": data.long_volunteer_id}).scalar_one()
    assert long_postings == 4 * size.long_history_records
    assert len(data.volunteer_tokens) == size.self_service_users + 1 and data.desk_items


def test_the_plan_is_the_same_for_the_same_seed():
    size = generate.SIZES["tiny"]
    data = generate.DataSet(size="tiny", seed=3, stations=[10, 11, 12], volunteer_ids=range(100, 100 + size.volunteers))
    homes = [random.Random(n).choice(data.stations) for n in range(size.volunteers)]
    activities = {(station, month): [(station * 1000 + month, generate.START.replace(month=month % 12 + 1,
                                                                                     year=2023 + month // 12))]
                  for station in data.stations for month in range(36)}
    first = generate._service_plan(size, random.Random(3), data, homes, activities, recorder=1)
    again = generate._service_plan(size, random.Random(3), data, homes, activities, recorder=1)
    other = generate._service_plan(size, random.Random(4), data, homes, activities, recorder=1)
    assert first == again and first != other
