"""Deployment keys: this deployment's Ed25519 signing key and the peers' keys it trusts.

The private key lives in a file, `<data_dir>/deployment_key.pem` (PKCS#8, mode 0600), made
on first use; it never enters the database, a log line or an API answer.  Only its public
half is shown (base64 of the raw 32 bytes, and a SHA-256 fingerprint to read out over the
phone when two counties exchange keys).  Trusted peers are a table, written by admins only.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.book.tables import DeploymentPeer
from ledger.errors import Conflict, ValidationFailed
from ledger.people.access import Principal, require_role
from ledger.store.tables import AuditEntry

KEY_FILE = "deployment_key.pem"


def key_path(data_dir: str | Path) -> Path:
    """Where this deployment's private key is kept."""
    return Path(data_dir) / KEY_FILE


def signing_key(data_dir: str | Path) -> Ed25519PrivateKey:
    """This deployment's private key, created (mode 0600) on first use."""
    path = key_path(data_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationFailed(f"{path} does not hold an Ed25519 private key", field="data_dir")
    return key


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as base64 of its raw 32 bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def strict_b64decode(text: str, field: str) -> bytes:
    """Decode base64 that must be in its one canonical spelling (else ValidationFailed)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValidationFailed("not valid base64", field=field) from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValidationFailed("base64 is not in canonical form", field=field)
    return raw


def parse_public_key(text: str, field: str = "public_key") -> Ed25519PublicKey:
    """An Ed25519 public key from base64 of its raw 32 bytes."""
    raw = strict_b64decode(text if isinstance(text, str) else "", field)
    if len(raw) != 32:
        raise ValidationFailed("an Ed25519 public key is 32 bytes (44 characters of base64)", field=field)
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_text: str) -> str:
    """SHA-256 (hex) of the raw public key: what two admins compare out loud."""
    return hashlib.sha256(strict_b64decode(public_text, "public_key")).hexdigest()


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """An Ed25519 signature of the data, base64."""
    return base64.b64encode(key.sign(data)).decode("ascii")


def signature_is_valid(public_text: str, data: bytes, signature_text: str) -> bool:
    """True when the signature (canonical base64) is the key's signature of exactly these bytes."""
    try:
        signature = strict_b64decode(signature_text, "signature")
        parse_public_key(public_text).verify(signature, data)
    except (ValidationFailed, InvalidSignature):
        return False
    return True


def own_key(data_dir: str | Path, deployment_id: str, deployment_name: str) -> dict:
    """This deployment's identity and public key (never the private key)."""
    public = public_key_text(signing_key(data_dir))
    return {"deployment_id": deployment_id, "name": deployment_name, "public_key": public,
            "fingerprint": fingerprint(public)}


def peer_public(peer: DeploymentPeer) -> dict:
    """A trusted peer as shown to clients."""
    return {"id": peer.id, "deployment_id": peer.deployment_id, "name": peer.name,
            "public_key": peer.public_key, "fingerprint": peer.fingerprint, "added_by": peer.added_by,
            "added_at": peer.added_at.isoformat() if peer.added_at else None}


def trust_key(session: Session, principal: Principal, *, deployment_id: str, name: str, public_key: str,
              own_deployment_id: str) -> dict:
    """Add a peer deployment's public key to the trusted list (admin only; same key again is a no-op)."""
    require_role(principal, "admin")
    deployment_id = (deployment_id or "").strip()
    if not deployment_id or len(deployment_id) > 100:
        raise ValidationFailed("deployment_id must be 1–100 characters", field="deployment_id")
    if deployment_id == own_deployment_id:
        raise ValidationFailed("this is our own deployment id; trust another deployment's key",
                               field="deployment_id")
    public_key = (public_key or "").strip()
    parse_public_key(public_key)
    existing = peer_by_deployment(session, deployment_id)
    if existing is not None:
        if existing.public_key != public_key:
            raise Conflict(f"deployment {deployment_id!r} is already trusted with another key "
                           f"(fingerprint {existing.fingerprint[:16]}…)", field="public_key")
        return peer_public(existing)
    peer = DeploymentPeer(deployment_id=deployment_id, name=(name or "").strip()[:200], public_key=public_key,
                          fingerprint=fingerprint(public_key), added_by=principal.username)
    session.add(peer)
    session.flush()
    session.add(AuditEntry(actor=principal.username, action="deployment_key.trust",
                           target=f"deployment:{deployment_id}", detail={"fingerprint": peer.fingerprint}))
    return peer_public(peer)


def list_trusted(session: Session, principal: Principal) -> list[dict]:
    """Every trusted peer deployment and its key (admins and auditors)."""
    require_role(principal, "admin", "auditor")
    return [peer_public(p) for p in session.execute(select(DeploymentPeer).order_by(DeploymentPeer.id)).scalars()]


def peer_by_deployment(session: Session, deployment_id: str) -> DeploymentPeer | None:
    """The trusted peer with this deployment id, if any."""
    return session.execute(
        select(DeploymentPeer).where(DeploymentPeer.deployment_id == deployment_id)).scalar_one_or_none()
