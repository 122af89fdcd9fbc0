"""Configuration: one Settings object, read from the environment (prefix LEDGER_).

Only entry points (the API app, the CLI, the scheduler) build it and pass values down.
"""
from __future__ import annotations

import math
import string
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-do-not-use-in-production"
DEFAULT_DB_PATH = Path("var") / "ledger.sqlite3"
MIN_SECRET_BITS = 256  # 32 bytes of entropy, as secrets.token_hex(32) gives
MAKE_SECRET = "python3 -c 'import secrets; print(secrets.token_hex(32))'"
_ALPHABETS = ((set(string.hexdigits), 4.0),  # bits per character of the alphabet a key is written in
              (set(string.ascii_letters + string.digits + "+/=-_"), 6.0),
              (set(string.printable) - set(string.whitespace), math.log2(94)))


def secret_key_bits(key: str) -> int:
    """A cautious estimate of a key's entropy in bits (0 for a key of few distinct characters).

    Each character counts the bits of the smallest alphabet the key is written in (hex: 4,
    base64: 6, printable ASCII: 6.5, anything else: 8 per UTF-8 byte); a key made of fewer than
    12 distinct characters, or of one block repeated, counts nothing.
    """
    if len(set(key)) < 12 or _is_repeated(key):
        return 0
    for alphabet, bits in _ALPHABETS:
        if set(key) <= alphabet:
            return int(len(key) * bits)
    return len(key.encode("utf-8")) * 8


def _is_repeated(key: str) -> bool:
    """True when the key is one block written several times ("abcabcabc")."""
    return any(len(key) % size == 0 and key == key[:size] * (len(key) // size) for size in range(1, len(key) // 2 + 1))


class Settings(BaseSettings):
    """Every setting of the service; `LEDGER_DATABASE_URL=...` and so on."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    environment: str = "local"  # "local" (development) or "production"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    secret_key: str = DEV_SECRET  # keys the hashes of ID-card and phone numbers
    # keys the ledger's content hashes (HMAC); empty: derived from secret_key (book/keys.py)
    ledger_key: str = ""
    deployment_id: str = "local-county"  # names this deployment in transfer packages
    deployment_name: str = "本地县新时代文明实践中心"
    data_dir: Path = Path("var")
    demo_data: bool = True  # seed demo data when the database is empty (run command only)
    transfer_future_limit_days: int = 30
    sign_in_max_attempts: int = 5
    sign_in_lockout_minutes: int = 15
    token_ttl_days: int = 30  # tokens an admin or the command line issues expire after this
    trusted_proxies: str = ""  # comma-separated addresses whose X-Forwarded-For is believed
    rate_limit_per_minute: int = 120
    console_session_hours: int = 12  # a staff console session ends this long after sign-in
    scheduler_enabled: bool = True
    workers: int = 1  # server processes: production on PostgreSQL sets one per core (LEDGER_WORKERS)
    replica_url: str | None = None  # a PostgreSQL hot standby for reads (README: "A hot standby")
    replica_wait_ms: int = 500  # how long a reader's read waits for the standby to reach their write
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> "Settings":
        if self.environment == "local":
            return self
        if self.secret_key == DEV_SECRET or secret_key_bits(self.secret_key) < MIN_SECRET_BITS:
            raise ValueError(
                "LEDGER_SECRET_KEY 为空、过短或是开发用默认值；生产环境需要至少 32 字节随机数的密钥，"
                f"可这样生成：{MAKE_SECRET} "
                "(LEDGER_SECRET_KEY is empty, too short or the development default: outside local development "
                "it needs at least 32 bytes of entropy, since it keys the hashes of ID-card and phone numbers; "
                f"make one with: {MAKE_SECRET})"
            )
        return self

    @property
    def secret_bytes(self) -> bytes:
        """The secret key as bytes, for HMAC."""
        return self.secret_key.encode("utf-8")
