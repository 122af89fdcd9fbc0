"""Every action the ledger writes to the audit log, and every key of its details, has a Chinese
name for the 审计 page: the source is read, so a new action without a name fails here."""
from __future__ import annotations

import re
from pathlib import Path

from ledger.store.audit import ACTION_NAMES, DETAIL_NAMES

LEDGER = Path(__file__).resolve().parents[1] / "ledger"
AUDITED = re.compile(r"AuditEntry\((.*?)\)\)", re.S)


def _audit_calls() -> list[str]:
    return [call for path in LEDGER.rglob("*.py") for call in AUDITED.findall(path.read_text(encoding="utf-8"))]


def test_every_audited_action_has_a_chinese_name():
    actions = {name for call in _audit_calls() for name in re.findall(r'action=[^,]*?"([a-z_.]+)"', call)}
    actions |= {name for call in _audit_calls() for name in re.findall(r'else "([a-z_.]+)"', call)}
    assert {"token.revoke", "user.enable", "user.disable"} <= actions  # the reader finds the conditional ones
    assert sorted(a for a in actions if a not in ACTION_NAMES) == []


def test_every_detail_key_written_has_a_chinese_name():
    keys = {key for call in _audit_calls() for detail in re.findall(r"detail=\{(.*?)\}", call, re.S)
            for key in re.findall(r'"([a-z_]+)":', detail)}
    assert {"expires_at", "revoked", "token_id"} <= keys
    assert sorted(k for k in keys if k not in DETAIL_NAMES) == []

