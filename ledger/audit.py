"""The whole audit (`ledger verify`): the book's `verify`, then every registered certificate.

The book cannot see certificates (they are a concept above it), so the entry points call
this: the ledger's hashes, seals, balances and keys (`book.verify`), and each certificate
of the registry against its registered hash and its code (`volunteer_view.certificates`).
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from ledger.book.problems import VerifyReport
from ledger.book.verify import WORKERS, verify as verify_book
from ledger.volunteer_view.certificates import certificate_problems


def verify(session: Session, *, secret: bytes, workers: int = WORKERS) -> VerifyReport:
    """Verify the book and the certificate registry; one report."""
    report = verify_book(session, workers=workers)
    report.certificates, problems = certificate_problems(session, secret)
    report.problems += problems
    return report
