"""The HTTP layer: FastAPI routes over the use cases of `ledger`."""
