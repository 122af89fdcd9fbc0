"""Tamper evidence against an informed insider: someone with the database alone (a superuser
who has read the code) can neither forge a row nor re-seal a period, because the content
hashes are HMACs under the ledger key and every checkpoint is signed with the deployment's
Ed25519 key, and neither key is in the database.  An existing ledger is re-hashed once
(`rehash`), recorded by a checkpoint that says so; verify also checks the certificates."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from ledger import audit
from ledger.book import deployment_keys, hashing, keys
from ledger.book.accounts import POINTS, account_id
from ledger.book.checkpoints import GENESIS, signed_bytes
from ledger.book.integrity import seal_period, verify
from ledger.book.keys import BookKeys, derived
from ledger.book.rehash import rehash
from ledger.errors import Conflict
from ledger.store.uow import Context
from ledger.volunteer_view.certificates import canonical, verification_code
from ledger.volunteer_view.tables import Certificate
from tests.conftest import SECRET
from tests.test_integrity import _behind_the_ledgers_back, _ledger

NOW = dt.datetime.now(dt.timezone.utc)


def _report(ctx) -> dict:
    with ctx.uow() as uow:
        return verify(uow.session).as_dict()


def _checks(report: dict) -> list[tuple[str, int]]:
    return [(p["check"], p["row"]) for p in report["problems"]]


def _seal(ctx, period: str):
    with ctx.uow() as uow:
        checkpoint = seal_period(uow.session, period, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
        uow.commit()
        return checkpoint


def _forge_points(ctx, volunteer: int, points: int, content_hash) -> int:
    """What the insider does: a points award written straight into the tables, hashed as the code
    hashes (`content_hash(tx, legs)` gives the hash), with its key row, balanced postings and
    the cached balances fixed, so that every other check agrees."""
    with ctx.uow() as uow:
        own, issued = account_id(uow.session, "volunteer_points", volunteer), account_id(uow.session, "unit_points_issued", 1)
        top = uow.session.execute(text("SELECT max(id) FROM transactions")).scalar()
        uow.commit()
    tx_id, day = top + 1000, dt.date(2026, 3, 2)
    tx = {"kind": "award", "idempotency_key": f"forged:{tx_id}", "occurred_on": day, "actor": "admin",
          "volunteer_id": volunteer, "unit_id": None, "policy_version_id": None, "reverses_id": None,
          "service_record_id": None, "memo": "年度嘉许"}
    legs = [(own, POINTS, points, volunteer, None), (issued, POINTS, -points, volunteer, None)]
    _behind_the_ledgers_back(
        ctx,
        ("INSERT INTO transactions (id, kind, idempotency_key, occurred_on, recorded_at, actor, volunteer_id, memo, "
         "content_hash) VALUES (:id, :kind, :key, :day, :now, 'admin', :v, :memo, :hash)",
         {"id": tx_id, "kind": tx["kind"], "key": tx["idempotency_key"], "day": day, "now": NOW, "v": volunteer,
          "memo": tx["memo"], "hash": content_hash(tx, legs)}),
        ("INSERT INTO transaction_keys (transaction_id, idempotency_key, occurred_on) VALUES (:id, :key, :day)",
         {"id": tx_id, "key": tx["idempotency_key"], "day": day}),
        *[("INSERT INTO postings (transaction_id, account_id, uom, amount, volunteer_id, occurred_on) "
           "VALUES (:id, :a, 'PTS', :m, :v, :day)", {"id": tx_id, "a": a, "m": m, "v": volunteer, "day": day})
          for a, _u, m, _v, _n in legs],
        *[("UPDATE accounts SET balance = balance + :m WHERE id = :a", {"a": a, "m": m}) for a, _u, m, _v, _n in legs])
    return tx_id


def test_a_row_forged_with_the_unkeyed_sha256_is_caught(fresh_ctx):
    ids, volunteer = _ledger(fresh_ctx, 3)
    assert _report(fresh_ctx)["ok"]
    forged = _forge_points(fresh_ctx, volunteer, 500, hashing.content_digest)
    report = _report(fresh_ctx)
    assert _checks(report) == [("transaction_hash", forged)]  # every other check agrees: only the key tells


def test_a_row_forged_under_a_guessed_key_is_caught(fresh_ctx):
    _ids, volunteer = _ledger(fresh_ctx, 2)
    guess = os.urandom(32)
    forged = _forge_points(fresh_ctx, volunteer, 500, lambda tx, legs: hashing.content_hash(guess, tx, legs))
    assert _checks(_report(fresh_ctx)) == [("transaction_hash", forged)]


def _insert_checkpoint(ctx, fields: dict, signing: Ed25519PrivateKey | None) -> None:
    class Row:
        pass
    row = Row()
    row.__dict__.update(fields)
    signature = deployment_keys.sign(signing, signed_bytes(row)) if signing else None
    _behind_the_ledgers_back(ctx, (
        "INSERT INTO checkpoints (period, kind, note, first_tx_id, last_tx_id, tx_count, prev_hash, hash, "
        "signature, created_at) VALUES (:period, :kind, :note, :first_tx_id, :last_tx_id, :tx_count, :prev_hash, "
        ":hash, :signature, :now)", {**fields, "signature": signature, "now": NOW}))


def test_a_checkpoint_sealed_by_anyone_but_the_deployment_is_caught(fresh_ctx):
    ctx = fresh_ctx
    ids, _ = _ledger(ctx, 2)
    first = _seal(ctx, "p1")
    ids += _ledger(ctx, 2)[0]
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, content_hash FROM transactions WHERE id > :a ORDER BY id"),
                            {"a": first.last_tx_id}).all()
    fields = {"period": "p2", "kind": "seal", "note": "", "first_tx_id": rows[0][0], "last_tx_id": rows[-1][0],
              "tx_count": len(rows), "prev_hash": first.hash, "hash": hashing.chain_hash(first.hash, rows)}
    _insert_checkpoint(ctx, fields, Ed25519PrivateKey.generate())  # the right chain, the insider's own key
    report = _report(ctx)
    assert [p["check"] for p in report["problems"]] == ["checkpoint_signature"]
    assert report["checkpoints"] == 2


def test_a_period_re_sealed_behind_the_ledgers_back_is_caught(fresh_ctx):
    """The insider deletes a seal and writes it anew (unsigned, or as a `rehash` that would
    restart the chain): neither carries the deployment's signature."""
    ctx = fresh_ctx
    _ledger(ctx, 2)
    sealed = _seal(ctx, "p1")
    fields = {name: getattr(sealed, name) for name in
              ("period", "kind", "note", "first_tx_id", "last_tx_id", "tx_count", "prev_hash", "hash")}
    _behind_the_ledgers_back(ctx, ("DELETE FROM checkpoints WHERE id = :c", {"c": sealed.id}))
    _insert_checkpoint(ctx, fields, None)
    assert [p["check"] for p in _report(ctx)["problems"]] == ["checkpoint_signature"]
    with ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, content_hash FROM transactions ORDER BY id")).all()
    _insert_checkpoint(ctx, {**fields, "period": "again", "kind": "rehash", "prev_hash": sealed.hash,
                             "hash": hashing.chain_hash(sealed.hash, rows)}, Ed25519PrivateKey.generate())
    assert [p["check"] for p in _report(ctx)["problems"]] == ["checkpoint_signature"]


def _as_before_revision_0017(ctx) -> None:
    """The ledger as an older version left it: unkeyed SHA-256 hashes, an unsigned seal over them."""
    with ctx.engine.connect() as conn:
        txs = conn.execute(text("SELECT id, kind, idempotency_key, occurred_on, actor, volunteer_id, unit_id, "
                                "policy_version_id, reverses_id, service_record_id, memo FROM transactions "
                                "ORDER BY id")).mappings().all()
        legs = {}
        for row in conn.execute(text("SELECT transaction_id, account_id, uom, amount, volunteer_id, unit_id "
                                     "FROM postings")):
            legs.setdefault(row[0], []).append(tuple(row[1:]))
    unkeyed = [(tx["id"], hashing.content_digest(dict(tx), legs.get(tx["id"], []))) for tx in txs]
    _behind_the_ledgers_back(ctx, *[("UPDATE transactions SET content_hash = :h WHERE id = :id", {"id": i, "h": h})
                                    for i, h in unkeyed])
    _insert_checkpoint(ctx, {"period": "legacy", "kind": "seal", "note": "", "first_tx_id": unkeyed[0][0],
                             "last_tx_id": unkeyed[-1][0], "tx_count": len(unkeyed), "prev_hash": GENESIS,
                             "hash": hashing.chain_hash(GENESIS, unkeyed)}, None)


def _rehash(ctx, old_keys=()) -> dict:
    with ctx.uow() as uow:
        result = rehash(uow.session, old_keys=old_keys, now=dt.datetime.now(dt.timezone.utc))
        uow.commit()
        return result


def test_an_existing_ledger_is_rehashed_once_and_the_insider_is_caught_after(fresh_ctx):
    ctx = fresh_ctx
    ids, volunteer = _ledger(ctx, 4)
    _as_before_revision_0017(ctx)
    before = _report(ctx)
    assert {check for check, _ in _checks(before)} == {"transaction_hash", "checkpoint_signature"}
    assert "ledger rehash" in before["problems"][0]["detail"]
    done = _rehash(ctx)
    assert done["transactions"] == 4 and done["from_unkeyed"] == 4
    assert "re-hashed 4 transactions under ledger key" in done["checkpoint"]["note"]
    after = _report(ctx)
    assert after["ok"] and after["checkpoints"] == 2  # the legacy seal, superseded; the rehash seal
    _seal(ctx, "after")
    forged = _forge_points(ctx, volunteer, 500, hashing.content_digest)
    assert _checks(_report(ctx)) == [("transaction_hash", forged)]
    with pytest.raises(Conflict):  # a second run does not bless the forged row
        _rehash(ctx)


def test_a_new_ledger_key_is_taken_by_rehashing_under_the_old_one(fresh_ctx):
    ctx = fresh_ctx
    _ledger(ctx, 3)
    _seal(ctx, "p1")
    old = derived(SECRET)
    rotated = Context(engine=ctx.engine, secret_key=SECRET, deployment_id=ctx.deployment_id,
                      book_keys=BookKeys(os.urandom(32), old.signing_key, old.public_keys))
    assert {p["check"] for p in _report(rotated)["problems"]} == {"transaction_hash"}
    with pytest.raises(Conflict):  # without the old key the hashes cannot be checked: nothing written
        _rehash(rotated)
    assert _rehash(rotated, old_keys=(old.ledger_key,))["from_old_key"] == 3
    assert _report(rotated)["ok"] and not _report(ctx)["ok"]


def test_a_checkpoint_signed_with_a_retired_deployment_key_still_verifies(fresh_ctx):
    ctx = fresh_ctx
    _ledger(ctx, 2)
    _seal(ctx, "p1")
    old = derived(SECRET)
    new_key = Ed25519PrivateKey.generate()
    rotated = Context(engine=ctx.engine, secret_key=SECRET, deployment_id=ctx.deployment_id,
                      book_keys=BookKeys(old.ledger_key, new_key,
                                         (deployment_keys.public_key_text(new_key), *old.public_keys)))
    _ledger(rotated, 1)
    _seal(rotated, "p2")
    assert _report(rotated)["ok"]
    forgotten = Context(engine=ctx.engine, secret_key=SECRET, book_keys=BookKeys(
        old.ledger_key, new_key, (deployment_keys.public_key_text(new_key),)))
    assert [p["check"] for p in _report(forgotten)["problems"]] == ["checkpoint_signature"]


def test_verify_checks_every_certificates_hash_and_code(fresh_ctx):
    ctx = fresh_ctx
    _ids, volunteer = _ledger(ctx, 1)
    content = {"type": "志愿服务证明", "number": "ZM-TAMPER-1", "minutes": 60, "volunteer": {"name": "张三"}}
    body = canonical(content)
    with ctx.uow() as uow:
        unit = uow.session.execute(text("SELECT home_unit_id FROM volunteers WHERE id = :v"),
                                   {"v": volunteer}).scalar_one()
        uow.session.add(Certificate(number="ZM-TAMPER-1", volunteer_id=volunteer, unit_id=unit,
                                    period_from=dt.date(2026, 1, 1), period_to=dt.date(2026, 3, 1), minutes=60,
                                    issued_on=dt.date(2026, 3, 2), issued_by="admin", content=body,
                                    content_hash=hashlib.sha256(body.encode()).hexdigest(),
                                    verification_code=verification_code(SECRET, body)))
        uow.commit()
    with ctx.uow() as uow:
        report = audit.verify(uow.session, secret=SECRET).as_dict()
    assert report["ok"] and report["certificates"] == 1
    altered = canonical({**content, "minutes": 6000})
    with ctx.engine.connect() as conn, conn.begin():
        if ctx.is_sqlite:
            conn.execute(text("DROP TRIGGER IF EXISTS certificates_no_update"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE certificates SET content = :c, content_hash = :h WHERE number = 'ZM-TAMPER-1'"),
                     {"c": altered, "h": hashlib.sha256(altered.encode()).hexdigest()})
    with ctx.uow() as uow:
        report = audit.verify(uow.session, secret=SECRET).as_dict()
    assert [(p["check"], json.loads(altered)["number"] in p["detail"]) for p in report["problems"]] == [
        ("certificate", True)]


def test_rotating_the_deployment_key_keeps_only_the_old_public_half(tmp_path):
    before = keys.from_settings("", SECRET, tmp_path)
    rotated = keys.rotate_deployment_key(tmp_path)
    after = keys.from_settings("", SECRET, tmp_path)
    assert rotated["retired"] == before.public_keys[0] != after.public_keys[0] == rotated["public_key"]
    assert after.public_keys == (rotated["public_key"], rotated["retired"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployment_key.pem", keys.RETIRED_FILE]
    with pytest.raises(ValueError, match="at least 32 bytes"):
        keys.from_settings("short", SECRET, tmp_path)
