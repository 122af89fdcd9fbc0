"""Figures 4 and 5: concurrent redemptions; the year-end ranking and targets report."""
from __future__ import annotations
