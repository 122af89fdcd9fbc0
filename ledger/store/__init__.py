"""Plumbing under every package: engines and sessions, the unit of work, idempotency, migrations, partitions."""
