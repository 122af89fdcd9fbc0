"""Fault tests: a real `ledger serve` subprocess killed mid-write, PostgreSQL restarted under load,
and a stateful property test of the whole domain against a reference model."""
