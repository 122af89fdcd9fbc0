"""Unit of work and the context every use case runs in.

A use case opens `ctx.uow()`, checks, writes, and calls `uow.commit()`; leaving the block
without commit rolls everything back, so a failed request leaves the ledger as it was.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.store.db import is_sqlite, make_session_factory
from ledger.store.replica import ReplicaRouter
from ledger.store.session_state import session_state

CHINA = ZoneInfo("Asia/Shanghai")


class UnitOfWork:
    """A database transaction that rolls back unless `commit()` was called."""

    def __init__(self, session_factory: sessionmaker, secret_key: bytes | None = None, book_keys: Any = None):
        self._factory = session_factory
        self._keys = (secret_key, book_keys)
        self.session: Session
        self.committed = False

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        state = session_state(self.session)
        state.secret_key, state.book_keys = self._keys
        return self

    def __exit__(self, *exc) -> None:
        if not self.committed:
            self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        """Make every write of this unit of work durable, at once."""
        self.session.commit()
        self.committed = True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Context:
    """What use cases need from outside: the database, the secret key, the clock."""

    engine: Engine
    secret_key: bytes
    deployment_id: str = "local-county"
    deployment_name: str = "本地县新时代文明实践中心"
    clock: Callable[[], dt.datetime] = _now
    options: dict = field(default_factory=dict)
    replica_engine: Engine | None = None  # a hot standby for reads (store/replica.py)
    # the ledger key and the deployment's signing key (`book.keys.BookKeys`); None: derived
    # from `secret_key` (tests, the bench).  Each unit of work's session state carries them.
    book_keys: Any = None

    def __post_init__(self) -> None:
        self.session_factory = make_session_factory(self.engine)
        self.replica = ReplicaRouter(self.engine, self.replica_engine,
                                     wait_ms=int(self.options.get("replica_wait_ms", 500)))

    def uow(self) -> UnitOfWork:
        """Open a unit of work (a database transaction)."""
        return UnitOfWork(self.session_factory, self.secret_key, self.book_keys)

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded SQLite database."""
        return is_sqlite(self.engine)

    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        return self.clock()

    def today(self) -> dt.date:
        """Today's date in China (the business calendar)."""
        return self.clock().astimezone(CHINA).date()

    def local_now(self) -> dt.datetime:
        """Now as naive local time in China, the form service times are stored in."""
        return self.clock().astimezone(CHINA).replace(tzinfo=None)
