"""All tables, one module per concept; importing this package registers every table on
`ledger.db.Base.metadata` (modules are discovered, so a new concept adds only a file)."""
from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from ledger.tables.core import *  # noqa: E402,F401,F403
