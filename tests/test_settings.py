"""Settings (issue 15, finding 6): outside local development a secret key with less than 32 bytes
of entropy is refused, with a message (Chinese and English) that says how to make one."""
from __future__ import annotations

import secrets

import pytest
from pydantic import ValidationError

from ledger.settings import DEV_SECRET, Settings


@pytest.mark.parametrize("weak", ["", "short", DEV_SECRET, secrets.token_hex(16), "0123456789abcdef" * 4,
                                  "a" * 200, "password" * 8])
def test_production_refuses_a_weak_secret_key_and_says_how_to_make_one(monkeypatch, weak):
    monkeypatch.setenv("LEDGER_ENVIRONMENT", "production")
    monkeypatch.setenv("LEDGER_SECRET_KEY", weak)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    message = str(refused.value)
    assert "至少 32 字节" in message and "secrets.token_hex(32)" in message


@pytest.mark.parametrize("strong", [secrets.token_hex(32), secrets.token_urlsafe(43), secrets.token_hex(48)])
def test_production_accepts_a_key_of_32_random_bytes(monkeypatch, strong):
    monkeypatch.setenv("LEDGER_ENVIRONMENT", "production")
    monkeypatch.setenv("LEDGER_SECRET_KEY", strong)
    assert Settings(_env_file=None).secret_bytes == strong.encode()


def test_local_development_keeps_its_default_key(monkeypatch):
    monkeypatch.delenv("LEDGER_ENVIRONMENT", raising=False)
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    assert Settings(_env_file=None).secret_key == DEV_SECRET
