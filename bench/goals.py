"""The issue's goals, and the table of measured figures against them."""
from __future__ import annotations

import json


def render(results: dict) -> str:
    return json.dumps(results, indent=1, ensure_ascii=False, default=str)
