"""The book (账簿): accounts, balanced append-only postings, the content hash, checkpoints and `verify`."""
