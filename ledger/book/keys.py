"""The book's keys: the ledger key (content hashes) and the deployment key (checkpoints).

Neither is ever in the database, so that someone with the database alone can neither forge
a row (its content hash is an HMAC under the ledger key) nor re-seal a period (a checkpoint
is signed with the deployment's Ed25519 key).  The entry points build `BookKeys` from the
settings (`LEDGER_LEDGER_KEY`, else derived from `LEDGER_SECRET_KEY`; the deployment key
file in the data directory, and the public keys it replaced) and hand them to the context,
whose units of work put them in their session's state (`store.session_state`).  A context
built with a secret alone (tests, the bench) gets keys derived from that secret.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from ledger.book import deployment_keys
from ledger.errors import LedgerError
from ledger.store.session_state import session_state

MIN_KEY_BYTES = 32
RETIRED_FILE = "deployment_keys_retired.txt"  # public keys (base64) the deployment used before


@dataclass(frozen=True)
class BookKeys:
    """The ledger key, this deployment's signing key, and the public keys its checkpoints may carry."""

    ledger_key: bytes
    signing_key: Ed25519PrivateKey | None
    public_keys: tuple[str, ...]  # the current key's first, then the retired ones

    @property
    def ledger_key_fingerprint(self) -> str:
        """Names the ledger key without revealing it (16 hex digits)."""
        return hmac.new(self.ledger_key, b"ledger key fingerprint", "sha256").hexdigest()[:16]


class KeysMissing(LedgerError):
    """The session was not opened by a context that holds the book's keys."""

    code = "keys_missing"
    status = 500


def ledger_key(setting: str, secret: bytes) -> bytes:
    """The ledger key: `LEDGER_LEDGER_KEY` when set (at least 32 bytes), else derived from the secret."""
    if setting:
        key = setting.encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"LEDGER_LEDGER_KEY must be at least {MIN_KEY_BYTES} bytes "
                             f"(make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')")
        return key
    return hmac.new(secret, b"ledger content hash key v1", "sha256").digest()


def retired_public_keys(data_dir: str | Path) -> tuple[str, ...]:
    """The public keys this deployment signed with before its current one, newest first."""
    path = Path(data_dir) / RETIRED_FILE
    if not path.exists():
        return ()
    lines = [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return tuple(reversed(lines))


def from_settings(ledger_key_setting: str, secret: bytes, data_dir: str | Path) -> BookKeys:
    """The keys of a deployment: its ledger key, its key file, and the keys it retired."""
    signing = deployment_keys.signing_key(data_dir)
    return BookKeys(ledger_key(ledger_key_setting, secret), signing,
                    (deployment_keys.public_key_text(signing), *retired_public_keys(data_dir)))


@lru_cache(maxsize=16)
def derived(secret: bytes) -> BookKeys:
    """Keys derived from a secret alone (a context without a data directory: tests, the bench)."""
    seed = hmac.new(secret, b"deployment signing key (derived)", "sha256").digest()
    signing = Ed25519PrivateKey.from_private_bytes(seed)
    return BookKeys(ledger_key("", secret), signing, (deployment_keys.public_key_text(signing),))


def book_keys(session: Session) -> BookKeys:
    """The keys the session's context holds."""
    state = session_state(session)
    if state.book_keys is not None:
        return state.book_keys
    secret = state.secret_key
    if secret is None:
        raise KeysMissing("本会话没有台账密钥 (this session was not opened by a ledger context: no ledger key)")
    return derived(secret)


def rotate_deployment_key(data_dir: str | Path) -> dict:
    """Retire this deployment's signing key (its public half kept, to check the checkpoints it
    signed; its private half deleted) and make a new one."""
    path = deployment_keys.key_path(data_dir)
    old = deployment_keys.public_key_text(deployment_keys.signing_key(data_dir))
    with open(Path(data_dir) / RETIRED_FILE, "a") as retired:
        retired.write(f"{old} retired; fingerprint {deployment_keys.fingerprint(old)}\n")
    path.unlink()  # the private half goes: a retired key signs nothing more, even if it leaked
    new = deployment_keys.public_key_text(deployment_keys.signing_key(data_dir))
    return {"retired": old, "retired_fingerprint": deployment_keys.fingerprint(old),
            "public_key": new, "fingerprint": deployment_keys.fingerprint(new)}
