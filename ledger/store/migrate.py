"""Schema management through Alembic only: upgrade to the newest revision, or check drift."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from ledger.store.db import normalise_url

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> Config:
    """An Alembic config for the project's migrations against `url`."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = normalise_url(url)
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` to the newest schema (creates it from empty)."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
