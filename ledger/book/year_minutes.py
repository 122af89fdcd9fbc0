"""Minutes per volunteer per calendar year: a cache of the hours account's postings.

One row per (volunteer, year), kept by `ledger.book.postings.post` and the bulk path in the same
database transaction as the postings, so "hours this year" is one row read whatever the
length of the volunteer's history.  `verify` recomputes it from the postings.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ledger.store.db import Base

__all__ = ["VolunteerYearMinutes"]


class VolunteerYearMinutes(Base):
    """Sum of the postings on a volunteer's `volunteer_minutes` account dated in one year."""

    __tablename__ = "volunteer_year_minutes"
    volunteer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    minutes: Mapped[int] = mapped_column(BigInteger, default=0)
