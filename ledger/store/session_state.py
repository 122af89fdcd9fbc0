"""What one unit of work remembers between its statements, in one visible place.

A session's `info` holds a single `SessionState` (nothing else of ours): the keys of the
context (set by its unit of work: `book.keys`), facts that never change once read (an
account's kind, a unit's path), the policies in force looked up in
this request, and the writes deferred to just before COMMIT by the two global
`before_commit` listeners (`book.accounts.apply_deferred_balances`,
`redemption.stock.apply_deferred_stock`).  Everything here is forgotten with the session;
the deferred writes also after a rollback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

_KEY = "ledger"


@dataclass
class SessionState:
    """The per-session memory of the ledger's use cases."""

    account_kinds: dict[int, str] = field(default_factory=dict)  # kinds never change
    unit_paths: dict[int, str] = field(default_factory=dict)  # units never move
    policies_in_force: dict = field(default_factory=dict)  # (unit, date) -> (version, policy); emptied on publish
    deferred_balances: dict[int, int] = field(default_factory=dict)  # counter-side balances, added before COMMIT
    deferred_stock: list[dict] = field(default_factory=list)  # stock moves, applied before COMMIT
    secret_key: bytes | None = None  # the context's secret and book keys (`book.keys`), set by its unit of work
    book_keys: Any = None


def session_state(session: Session) -> SessionState:
    """This session's state (made on first use)."""
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = SessionState()
    return found
