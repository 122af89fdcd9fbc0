"""The content hash has one definition: `json.dumps` of the canonical body, its SHA-256, and
the HMAC of that under the ledger key.  `hashing.canonical` (every posting), the batch path's
`service_hash` and verify's SQL on PostgreSQL are each held against it on generated transactions: any string (quotes, backslashes, control characters,
CJK, emoji), any ids, legs in any order."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import text

from ledger.book import hashing
from ledger.book.postings import Leg
from ledger.book.verify_postgresql import CANONICAL_SQL, LEGS_SQL
from ledger.service import bulk

# text PostgreSQL can hold (no NUL) that UTF-8 can encode (no lone surrogates)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
IDS = st.none() | st.integers(1, 2**31 - 1)
BIG_IDS = st.none() | st.integers(1, 2**62)


@st.composite
def transactions(draw) -> tuple[dict, list[tuple]]:
    tx = {"kind": draw(TEXT), "idempotency_key": draw(TEXT), "actor": draw(TEXT), "memo": draw(TEXT),
          "occurred_on": draw(st.dates(dt.date(1900, 1, 1), dt.date(9999, 12, 31))),
          "volunteer_id": draw(IDS), "unit_id": draw(IDS), "policy_version_id": draw(IDS),
          "reverses_id": draw(BIG_IDS), "service_record_id": draw(IDS)}
    accounts = draw(st.lists(st.integers(1, 2**31 - 1), unique=True, max_size=6))
    legs = [(account, draw(st.sampled_from(["MIN", "PTS"])), draw(st.integers(-2**62, 2**62).filter(bool)),
             draw(IDS), draw(IDS)) for account in accounts]
    return tx, legs


def reference(tx: dict, legs: list[tuple]) -> str:
    """The definition: the body's JSON, sorted keys, no spaces, not ASCII-escaped."""
    body = {"kind": tx["kind"], "key": tx["idempotency_key"], "occurred_on": str(tx["occurred_on"]),
            "actor": tx["actor"], "volunteer_id": tx["volunteer_id"], "unit_id": tx["unit_id"],
            "policy_version_id": tx["policy_version_id"], "reverses_id": tx["reverses_id"],
            "service_record_id": tx["service_record_id"], "memo": tx["memo"] or "", "postings": sorted(legs)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(transactions())
def test_the_canonical_content_is_the_json_of_the_body(generated):
    tx, legs = generated
    assert hashing.canonical(tx, legs) == reference(tx, legs)
    assert hashing.canonical(tx, [Leg(*leg) for leg in legs[::-1]]) == reference(tx, legs)
    assert hashing.content_digest(tx, legs) == hashlib.sha256(reference(tx, legs).encode()).hexdigest()


def keyed_reference(key: bytes, tx: dict, legs: list[tuple]) -> str:
    """The stored hash: HMAC-SHA256 under the ledger key of the SHA-256 of the definition."""
    return hmac.new(key, hashlib.sha256(reference(tx, legs).encode()).digest(), "sha256").hexdigest()


@given(transactions(), st.binary(min_size=1, max_size=100))
def test_the_stored_hash_is_an_hmac_of_the_digest_under_the_ledger_key(generated, key):
    tx, legs = generated
    assert hashing.content_hash(key, tx, legs) == keyed_reference(key, tx, legs)
    assert hashing.Keyed(key).text(reference(tx, legs)) == keyed_reference(key, tx, legs)


@given(transactions(), st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_the_batch_paths_service_hash_is_the_content_hash(generated, record_id, volunteer_id, unit_id):
    tx, legs = generated
    tx = {**tx, "kind": "service", "idempotency_key": f"service:{record_id}", "reverses_id": None,
          "service_record_id": record_id, "volunteer_id": volunteer_id, "unit_id": unit_id}
    key = b"k" * 32
    assert bulk.service_hash(hashing.Keyed(key), json.dumps(tx["actor"], ensure_ascii=False), record_id,
                             tx["occurred_on"].isoformat(), json.dumps(tx["memo"], ensure_ascii=False),
                             tx["policy_version_id"], legs, volunteer_id, unit_id) == keyed_reference(key, tx, legs)


@pytest.fixture
def pg(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("verify's SQL is PostgreSQL's")
    with engine.connect() as conn:
        conn.execute(text("CREATE TEMP TABLE t (id int, kind text, idempotency_key text, actor text, memo text, "
                          "occurred_on date, volunteer_id int, unit_id int, policy_version_id int, "
                          "reverses_id bigint, service_record_id int) ON COMMIT DROP"))
        conn.execute(text("CREATE TEMP TABLE p (transaction_id int, account_id int, uom varchar(3), amount bigint, "
                          "volunteer_id int, unit_id int) ON COMMIT DROP"))
        yield conn
        conn.rollback()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(transactions(), min_size=1, max_size=8))
def test_verifys_sql_builds_the_same_content_as_python(pg, generated):
    pg.execute(text("DELETE FROM t"))
    pg.execute(text("DELETE FROM p"))
    for n, (tx, legs) in enumerate(generated):
        pg.execute(text("INSERT INTO t VALUES (:id, :kind, :idempotency_key, :actor, :memo, :occurred_on, "
                        ":volunteer_id, :unit_id, :policy_version_id, :reverses_id, :service_record_id)"),
                   {"id": n, **tx})
        for leg in legs:
            pg.execute(text("INSERT INTO p VALUES (:n, :a, :u, :m, :v, :w)"),
                       {"n": n, "a": leg[0], "u": leg[1], "m": leg[2],
                        "v": leg[3], "w": leg[4]})
    rows = pg.execute(text(f"""
        SELECT t.id, {CANONICAL_SQL} FROM t
        LEFT JOIN (SELECT transaction_id, {LEGS_SQL} AS legs FROM p GROUP BY transaction_id) l
          ON l.transaction_id = t.id ORDER BY t.id""")).all()
    assert [row[1] for row in rows] == [reference(tx, legs) for tx, legs in generated]
