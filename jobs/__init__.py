"""Scheduled work: each job calls a use case of `ledger`, keyed by its period."""
