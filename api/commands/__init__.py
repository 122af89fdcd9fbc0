"""Command-line subcommands, one module per concept; each module has `register(subparsers)`.

A subcommand's handler receives (args, settings, ctx) and returns an exit code.
"""
from __future__ import annotations

import importlib
import pkgutil


def register_all(subparsers) -> None:
    """Let every module of this package add its subcommands."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
