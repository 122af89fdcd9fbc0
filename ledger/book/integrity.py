"""Tamper evidence, by its entry points: seal a period, verify the ledger, list the seals.

The work is done in `hashing` (the content hash and the chain hash, pure), `checkpoints`
(seals), `verify` (the checks; the Python path) and `verify_postgresql` (the same checks in
the database), with the report's words in `problems`.
"""
from ledger.book.checkpoints import GENESIS, checkpoints_public, seal_period
from ledger.book.hashing import chain_hash
from ledger.book.problems import VerifyReport
from ledger.book.verify import verify

__all__ = ["GENESIS", "VerifyReport", "chain_hash", "checkpoints_public", "seal_period", "verify"]
