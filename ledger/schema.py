"""Every table of the ledger: importing this module registers them all on `Base.metadata`.

Alembic's environment and the schema drift check import it; code that uses a table imports
it from its package's `tables` module.
"""
from __future__ import annotations

from ledger.book import tables as _book  # noqa: F401
from ledger.incentives import tables as _incentives  # noqa: F401
from ledger.people import tables as _people  # noqa: F401
from ledger.rankings import tables as _rankings  # noqa: F401
from ledger.redemption import tables as _redemption  # noqa: F401
from ledger.service import tables as _service  # noqa: F401
from ledger.store import tables as _store  # noqa: F401
from ledger.store.db import Base
from ledger.transfers import tables as _transfers  # noqa: F401
from ledger.volunteer_view import tables as _volunteer_view  # noqa: F401

metadata = Base.metadata
