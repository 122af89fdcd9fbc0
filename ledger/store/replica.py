"""Reads from a PostgreSQL hot standby, with read-your-writes for whoever just wrote.

A deployment may name a streaming replica (`LEDGER_REPLICA_URL`).  The reads that need no
lock and no write — a volunteer's figures and history, certificates, ranking and targets
reports and their exports — then run on it (`usecase.read_standby`), so the primary keeps its
CPU for writes.  Everything else reads and writes on the primary.

Read-your-writes: after a write commits, the writer's primary WAL position (LSN) is noted
under the reader key of the request (a digest of its credential, set by the web layer in
`current_reader`).  A later standby read with that key first waits, up to `wait_ms`,
for the standby to have replayed that position; if it has not by then, or the standby cannot
be reached, the read goes to the primary.  Readers who wrote nothing recently read the
standby as it is (it lags by milliseconds in normal operation); what the standby does not
know yet (a token or a certificate made a moment ago by someone else) is asked of the primary.

The noted positions live in this process (bounded, oldest forgotten first): with several
server processes a reader's next request may land on a process that did not see the write,
and reads there the standby as it is.  `stats` counts where reads went, for /metrics.
"""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import Counter, OrderedDict
from typing import Any, Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.errors import NotFound, Unauthenticated

log = logging.getLogger("ledger.replica")

current_reader: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_reader", default=None)
MAX_READERS = 100_000
POLL_SECONDS = 0.01
DOWN_SECONDS = 5.0  # after a failed connection, the standby is left alone this long


def lsn_value(lsn: str) -> int:
    """A PostgreSQL LSN ('16/B374D848') as an integer, for comparison."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class ReplicaRouter:
    """Sends standby reads to the replica when it has caught up with the reader's writes."""

    def __init__(self, primary: Engine, replica: Engine | None, *, wait_ms: int = 500):
        self.primary = primary
        self.replica = replica
        self.wait_ms = wait_ms
        self.stats: Counter[str] = Counter()
        self._written: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._down_until = 0.0

    @property
    def enabled(self) -> bool:
        """True when a standby is configured."""
        return self.replica is not None

    def note_write(self) -> None:
        """Remember the primary's WAL position for the current reader (call after COMMIT)."""
        reader = current_reader.get()
        if not self.enabled or reader is None:
            return
        with self.primary.connect() as connection:
            position = lsn_value(connection.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())
        with self._lock:
            self._written[reader] = max(position, self._written.pop(reader, 0))
            while len(self._written) > MAX_READERS:
                self._written.popitem(last=False)

    def read(self, fn: Callable[[Session], Any]) -> Any:
        """Run a read on the standby when it serves this reader, else on the primary."""
        if not self.enabled or time.monotonic() < self._down_until:
            return self._on(self.primary, fn, "primary")
        with self._lock:
            needed = self._written.get(current_reader.get() or "", 0)
        try:
            with self.replica.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                if needed and not self._caught_up(connection, needed):
                    self.stats["primary_behind"] += 1
                    return self._on(self.primary, fn, "primary")
                with Session(bind=connection, autoflush=False, expire_on_commit=False) as session:
                    result = fn(session)
                self.stats["standby"] += 1
                return result
        except (NotFound, Unauthenticated):
            # made on the primary by someone else a moment ago (a token, a certificate) and not
            # replayed yet: the primary answers for sure
            return self._on(self.primary, fn, "primary_not_yet_on_standby")
        except DBAPIError as exc:
            if not exc.connection_invalidated and not _is_connection_error(exc):
                raise
            log.warning("standby unreachable, reading from the primary: %s", type(exc.orig).__name__)
            self._down_until = time.monotonic() + DOWN_SECONDS
            self.replica.dispose()
            return self._on(self.primary, fn, "primary_standby_down")

    def lag_bytes(self) -> int | None:
        """How far the standby's replay is behind the primary's WAL, in bytes (None: unknown)."""
        if not self.enabled:
            return None
        try:
            with self.primary.connect() as primary, self.replica.connect() as replica:
                head = lsn_value(primary.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())
                replayed = replica.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
        except DBAPIError:
            return None
        return None if replayed is None else max(head - lsn_value(replayed), 0)

    def _caught_up(self, connection, needed: int) -> bool:
        deadline = time.monotonic() + self.wait_ms / 1000
        while True:
            replayed = connection.execute(text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
            if replayed is not None and lsn_value(replayed) >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def _on(self, engine: Engine, fn: Callable[[Session], Any], why: str) -> Any:
        self.stats[why] += 1
        with engine.connect() as connection:
            with Session(bind=connection, autoflush=False, expire_on_commit=False) as session:
                result = fn(session)
                session.rollback()
                return result


def _is_connection_error(exc: DBAPIError) -> bool:
    """True for errors of reaching the server (refused, closed, shut down), not of the statement."""
    name = type(exc.orig).__name__
    return name in ("OperationalError", "InterfaceError") or "AdminShutdown" in name
