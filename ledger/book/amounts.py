"""Amounts as people read them: minutes as hours (display only; the ledger keeps integers)."""
from __future__ import annotations


def hours_text(minutes: int) -> str:
    """Minutes as hours for people: 150 → "2.5", 100 → "1.67" (display only)."""
    whole, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    if rest == 0:
        return f"{sign}{whole}"
    hundredths = (rest * 100 + 30) // 60
    if hundredths == 100:
        return f"{sign}{whole + 1}"
    return f"{sign}{whole}.{hundredths:02d}".rstrip("0")
