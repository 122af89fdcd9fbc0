"""Configuration: one Settings object, read from the environment (prefix LEDGER_).

Only entry points (the API app, the CLI, the scheduler) build it and pass values down.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-secret-do-not-use-in-production"
DEFAULT_DB_PATH = Path("var") / "ledger.sqlite3"


class Settings(BaseSettings):
    """Every setting of the service; `LEDGER_DATABASE_URL=...` and so on."""

    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    environment: str = "local"  # "local" (development) or "production"
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    secret_key: str = DEV_SECRET  # keys the hashes of ID-card and phone numbers
    deployment_id: str = "local-county"  # names this deployment in transfer packages
    deployment_name: str = "本地县新时代文明实践中心"
    data_dir: Path = Path("var")
    demo_data: bool = True  # seed demo data when the database is empty (run command only)
    transfer_future_limit_days: int = 30
    sign_in_max_attempts: int = 5
    sign_in_lockout_minutes: int = 15
    rate_limit_per_minute: int = 120
    scheduler_enabled: bool = True
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        if self.environment != "local" and self.secret_key == DEV_SECRET:
            raise ValueError(
                "LEDGER_SECRET_KEY must be set outside local development "
                "(it keys the hashes of ID-card and phone numbers)"
            )
        return self

    @property
    def secret_bytes(self) -> bytes:
        """The secret key as bytes, for HMAC."""
        return self.secret_key.encode("utf-8")
