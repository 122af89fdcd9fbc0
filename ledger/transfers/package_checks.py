"""Checking a transfer package before anything is imported: format, trust, signature, hashes.

A package is refused (PackageRefused, with a machine `reason`) when it is not UTF-8 JSON of
the expected format, when its signer is not a trusted peer or signed with another key than
the trusted one, when the Ed25519 signature does not cover exactly its canonical bytes, when
it is addressed to another deployment, or when any transaction's content hash, balance, or
the totals do not match.  Canonical JSON has no spaces and one spelling per value, and the
signature's base64 must be canonical too, so altering any single byte is caught.
"""
from __future__ import annotations

import json
from decimal import InvalidOperation
from typing import Any, Callable

from ledger.book import deployment_keys as keys
from ledger.book.hashing import content_digest
from ledger.book.tables import DeploymentPeer
from ledger.errors import PackageRefused

FORMAT = "ledger-transfer-package/1"


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8; the signed form."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def refused(reason: str, message: str, field: str = "package") -> PackageRefused:
    """A package refusal with a machine reason and a message for people."""
    return PackageRefused(message, field=field, reason=reason)


def open_package(raw: Any, find_peer: Callable[[str], DeploymentPeer | None],
                 own_deployment_id: str) -> tuple[dict, DeploymentPeer]:
    """Parse and check a package: trusted signer, valid signature, addressed here, every hash."""
    envelope = parse_envelope(raw)
    try:
        return _checked(envelope, find_peer, own_deployment_id)
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise refused("malformed", f"the package is malformed ({type(exc).__name__}: {exc})") from exc


def parse_envelope(raw: Any) -> dict:
    """The envelope as a dict, from text, bytes or an already parsed object."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise refused("not_utf8", f"the package is not UTF-8 text (byte {exc.start})") from exc
    try:
        envelope = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise refused("not_json", f"the package is not valid JSON ({exc})") from exc
    if not isinstance(envelope, dict):
        raise refused("format", "the package is not a JSON object")
    return envelope


def _checked(envelope: dict, find_peer, own_deployment_id: str) -> tuple[dict, DeploymentPeer]:
    body = envelope.get("package")
    if envelope.get("format") != FORMAT or not isinstance(body, dict) or body.get("format") != FORMAT:
        raise refused("format", f"not a transfer package of format {FORMAT}")
    signer = body["from"]
    peer = find_peer(signer["deployment_id"])
    if peer is None:
        raise refused("untrusted_key", f"deployment {signer['deployment_id']!r} is not trusted here; "
                                       f"an admin must add its public key first", field="package.from")
    if peer.public_key != signer["public_key"]:
        raise refused("untrusted_key", f"signed by a key that is not the trusted key of "
                                       f"{peer.deployment_id!r} (trusted fingerprint {peer.fingerprint[:16]}…)",
                      field="package.from.public_key")
    signature = envelope.get("signature")
    if not isinstance(signature, str) or not keys.signature_is_valid(peer.public_key, canonical(body), signature):
        raise refused("bad_signature", "the signature does not match the package: it was altered after "
                                       "it was signed, or signed by another key", field="signature")
    if body["to"]["deployment_id"] != own_deployment_id:
        raise refused("wrong_recipient", f"the package is addressed to {body['to']['deployment_id']!r}, "
                                         f"not to this deployment ({own_deployment_id!r})", field="package.to")
    _check_hashes(body)
    _check_totals(body)
    return body, peer


def _check_hashes(body: dict) -> None:
    """Every transaction's content hash, recomputed from its fields and postings; and balance."""
    for tx in body["transactions"]:
        if content_digest(tx, tx["postings"]) != tx["content_hash"]:
            raise refused("hash_mismatch", f"transaction {tx['id']} does not match its content hash",
                          field="package.transactions")
        sums: dict[str, int] = {}
        for leg in tx["postings"]:
            sums[leg["uom"]] = sums.get(leg["uom"], 0) + _whole(leg["amount"])
        if any(sums.values()):
            raise refused("unbalanced", f"transaction {tx['id']} does not balance: {sums}",
                          field="package.transactions")


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"amount {value!r} is not a whole number")
    return value


def _check_totals(body: dict) -> None:
    """The totals carried equal the sums of the postings on the volunteer's own accounts."""
    sender_id, accounts = body["volunteer"]["id"], body["accounts"]
    sums = {"volunteer_minutes": 0, "volunteer_points": 0}
    for tx in body["transactions"]:
        for leg in tx["postings"]:
            account = accounts[str(leg["account_id"])]
            if account["owner_id"] == sender_id and account["kind"] in sums:
                sums[account["kind"]] += _whole(leg["amount"])
    totals = body["totals"]
    for kind, name in (("volunteer_minutes", "minutes"), ("volunteer_points", "points")):
        if _whole(totals[name]) != sums[kind] or totals[name] < 0:
            raise refused("totals_mismatch", f"the package's {name} ({totals[name]}) differ from its "
                                             f"transactions ({sums[kind]})", field=f"package.totals.{name}")
    _whole(totals["star_level"])
