"""The content hash of a transaction and the chain hash of checkpoints: pure, no database.

A transaction's canonical content is one line of JSON: its fields and its postings (sorted
as tuples), keys in sorted order, no spaces, strings as `json.dumps(ensure_ascii=False)`
writes them.  `canonical` writes that text; the batch path calls `canonical_text` with the
strings it already has in JSON, and verify's SQL on PostgreSQL builds the same text
(`tests/test_hashing.py` holds the SQL and the batch path against `json.dumps`).

`content_digest` is the SHA-256 of the canonical content: what transfer packages carry, and
anyone can recompute.  `content_hash`, what `transactions.content_hash` holds, is an HMAC-SHA256
under the ledger key of that digest: only the holder of the key can make it (`keys.py`).
"""
from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from typing import Iterable

_UOM_JSON = {"MIN": '"MIN"', "PTS": '"PTS"'}


def _json(value) -> str:
    """`value` as `json.dumps` writes it, without its cost for the ints and nulls of a ledger."""
    if type(value) is int:
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def leg_tuple(leg) -> tuple:
    """(account, uom, amount, volunteer, unit) of a leg: a `Leg`, a dict or a tuple."""
    if isinstance(leg, tuple):
        return leg[0], leg[1], int(leg[2]), leg[3], leg[4]
    if isinstance(leg, dict):
        return leg["account_id"], leg["uom"], int(leg["amount"]), leg["volunteer_id"], leg["unit_id"]
    return leg.account_id, leg.uom, int(leg.amount), leg.volunteer_id, leg.unit_id


def canonical_text(*, kind_json: str, key_json: str, actor_json: str, memo_json: str, occurred_on_json: str,
                   policy_version_id, reverses_id, service_record_id, unit_id, volunteer_id,
                   legs: Iterable[tuple]) -> str:
    """The canonical content, the strings given already in JSON; `legs` as `leg_tuple` gives them."""
    postings = ",".join([f"[{_json(a)},{_UOM_JSON.get(u) or _json(u)},{_json(m)},{_json(v)},{_json(n)}]"
                         for a, u, m, v, n in sorted(legs)])
    return (f'{{"actor":{actor_json},"key":{key_json},"kind":{kind_json},"memo":{memo_json},'
            f'"occurred_on":{occurred_on_json},"policy_version_id":{_json(policy_version_id)},'
            f'"postings":[{postings}],"reverses_id":{_json(reverses_id)},'
            f'"service_record_id":{_json(service_record_id)},"unit_id":{_json(unit_id)},'
            f'"volunteer_id":{_json(volunteer_id)}}}')


def canonical(tx: dict, legs) -> str:
    """The canonical content of a transaction (a dict of its fields) and its legs."""
    return canonical_text(
        kind_json=_json(tx["kind"]), key_json=_json(tx["idempotency_key"]), actor_json=_json(tx["actor"]),
        memo_json=_json(tx.get("memo") or ""), occurred_on_json=_json(str(tx["occurred_on"])),
        policy_version_id=tx.get("policy_version_id"), reverses_id=tx.get("reverses_id"),
        service_record_id=tx.get("service_record_id"), unit_id=tx.get("unit_id"),
        volunteer_id=tx.get("volunteer_id"), legs=[leg_tuple(leg) for leg in legs])


def digest_of(text: str) -> str:
    """SHA-256 (hex) of a canonical content."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_digest(tx: dict, legs) -> str:
    """SHA-256 (hex) of a transaction's canonical content: unkeyed, anyone can recompute it."""
    return digest_of(canonical(tx, legs))


def content_hash(ledger_key: bytes, tx: dict, legs) -> str:
    """The keyed content hash of a transaction: HMAC-SHA256 (hex) of its digest under the ledger key."""
    return keyed(ledger_key, hashlib.sha256(canonical(tx, legs).encode("utf-8")).digest())


def keyed(ledger_key: bytes, digest: bytes) -> str:
    """HMAC-SHA256 (hex) under the ledger key of a content's raw SHA-256 digest."""
    return hmac.new(ledger_key, digest, "sha256").hexdigest()


class Keyed:
    """`keyed` for many digests under one key: HMAC's two keyed states are computed once.

    HMAC(k, m) = H((k ^ opad) || H((k ^ ipad) || m)); each call copies the two states.
    """

    def __init__(self, ledger_key: bytes) -> None:
        block = (hashlib.sha256(ledger_key).digest() if len(ledger_key) > 64 else ledger_key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block)).copy
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block)).copy

    def hex_bytes(self, digest: bytes) -> bytes:
        """`keyed(key, digest)` as ASCII bytes."""
        inner = self._inner()
        inner.update(digest)
        outer = self._outer()
        outer.update(inner.digest())
        return binascii.hexlify(outer.digest())

    def text(self, text: str) -> str:
        """The keyed content hash of a canonical content."""
        return self.hex_bytes(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def chain_hash(prev_hash: str, rows: Iterable[tuple[int, str]]) -> str:
    """The hash of a checkpoint: previous hash, then each "id:content_hash" line."""
    digest = hashlib.sha256(prev_hash.encode())
    for tx_id, tx_hash in rows:
        digest.update(f"\n{int(tx_id)}:{tx_hash}".encode())
    return digest.hexdigest()
