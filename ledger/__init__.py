"""The volunteer hours, points and incentive ledger: the domain core.

Design overview
---------------
* A transaction (one business event: service credited, points awarded, redemption,
  reversal, transfer, expiry, adjustment) has postings; its postings sum to zero per unit
  of measure (MIN = minutes of service, PTS = points).  Amounts are integers, never floats.
* Nothing posted changes: transactions, postings, star events, checkpoints, policy versions
  and the audit log refuse UPDATE and DELETE in the database itself (triggers on PostgreSQL
  and SQLite).  A mistake is corrected by a reversal that names the original; a reversal is
  never reversed, and nothing is reversed twice.
* Every write is idempotent: client writes carry an idempotency key whose first result is
  stored with the write; ledger transactions carry a unique natural key.
* Balances are cached per account in the same database transaction as the postings;
  `integrity.verify` recomputes them, every content hash, and the checkpoint chain.
* Stars (星级) come from hours, never from spendable points.
* This package imports neither FastAPI nor APScheduler; `api/` and `jobs/` are thin layers.
"""
