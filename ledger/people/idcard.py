"""Resident ID numbers (身份证号, GB 11643-1999) and phone numbers: check, normalise, mask, hash.

Personal numbers never appear raw in logs or error messages: every message built here
shows only the masked form.

Masking rule (one rule for the whole project, the one most Chinese government service
platforms show): an ID number keeps its first 3 and last 4 characters and masks the other
11 with `*` — `330***********3154`.  That hides the county code, the whole birth date and
the sequence number, leaving only the province/city prefix and the check block a person
uses to recognise their own number.  A mobile number keeps 3 + 4 (`151****5224`); a
landline keeps its area code and last 4 digits (`0571-****4321`).

Lookup uses `keyed_hash` (HMAC-SHA256 with a server-side key) of the *normalised* value,
so the same person always hashes the same and the hash cannot be reversed by enumerating
the (small) space of valid ID numbers without the key.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from datetime import date

from ledger.errors import ValidationFailed

ID_LENGTH = 18
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
_CHECK_SYMBOLS = "10X98765432"  # indexed by (weighted sum mod 11)
# First two digits: province-level codes of GB/T 2260, plus 71/81/82/83 used for Taiwan,
# Hong Kong and Macao residents' residence permits.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71 81 82 83".split()
)
_EARLIEST_BIRTH_YEAR = 1900

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area codes: 010 and 02x have 3 digits, all others (03xx-09xx) 4; local numbers start 2-9.
_LANDLINE = re.compile(
    r"(010|02\d|0[3-9]\d{2})-?([2-9]\d{6,7})(?:(?:-|转|ext\.?|x)(\d{1,6}))?", re.I
)
_PHONE_SEPARATORS = re.compile(r"[\s()]")


def normalise_id_number(value: str) -> str:
    """Strip spaces (also full-width) and upper-case a trailing x; nothing else changes."""
    text = unicodedata.normalize("NFKC", str(value))
    return re.sub(r"\s+", "", text).upper()


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS))
    return _CHECK_SYMBOLS[total % 11]


def id_birth_date(id_number: str) -> date | None:
    """The birth date encoded in positions 7-14, or None when it is not a real date."""
    text = normalise_id_number(id_number)
    try:
        return date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return None


def id_number_problem(value: str, today: date | None = None) -> str | None:
    """Why `value` is not a valid 18-character ID number (Chinese + English), or None."""
    text = normalise_id_number(value)
    masked = mask_id_number(text)
    if not text:
        return "身份证号为空 (ID number is missing)"
    if len(text) != ID_LENGTH or not re.fullmatch(r"\d{17}[\dX]", text, re.ASCII):
        return f"身份证号应为18位数字（末位可为X）(must be 17 digits plus a digit or X): {masked}"
    if text[:2] not in _PROVINCES:
        return f"身份证号地区码无效 (region code is not valid): {masked}"
    born = id_birth_date(text)
    today = today or date.today()
    if born is None or not (_EARLIEST_BIRTH_YEAR <= born.year and born <= today):
        return f"身份证号出生日期无效 (birth date is not a real past date): {masked}"
    if id_check_digit(text[:17]) != text[17]:
        return f"身份证号校验位错误 (check digit does not match): {masked}"
    return None


def is_valid_id_number(value: str, today: date | None = None) -> bool:
    """True when `value` is a valid 18-character ID number."""
    return id_number_problem(value, today) is None


def validate_id_number(value: str, field: str = "身份证号", today: date | None = None) -> str:
    """Return the normalised ID number, or raise `ValidationFailed` with a masked message."""
    problem = id_number_problem(value, today)
    if problem is not None:
        raise ValidationFailed(problem, field=field)
    return normalise_id_number(value)


def mask_id_number(value: str) -> str:
    """Keep the first 3 and last 4 characters, mask the rest: `330***********3154`."""
    return _mask_middle(normalise_id_number(value), keep_head=3, keep_tail=4)


def normalise_phone(value: str) -> str:
    """Canonical phone form: `15110655224` or `0571-87654321[-ext]`; raises ValueError."""
    text = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(value)))
    mobile = re.sub(r"^(?:\+86|0086|86)(?=1\d{10}$)", "", text.replace("-", ""))
    if _MOBILE.fullmatch(mobile):
        return mobile
    landline = _LANDLINE.fullmatch(text)
    if landline:
        area, local, extension = landline.groups()
        return f"{area}-{local}" + (f"-{extension}" if extension else "")
    raise ValueError("not a mainland mobile or landline number")


def phone_problem(value: str) -> str | None:
    """Why `value` is not a usable phone number (Chinese + English), or None."""
    try:
        normalise_phone(value)
    except ValueError:
        return f"联系电话格式无效 (not a mobile or landline number): {mask_phone(value)}"
    return None


def validate_phone(value: str, field: str = "联系电话") -> str:
    """Return the normalised phone number, or raise `ValidationFailed` with a masked message."""
    problem = phone_problem(value)
    if problem is not None:
        raise ValidationFailed(problem, field=field)
    return normalise_phone(value)


def mask_phone(value: str) -> str:
    """Mask a phone number: `151****5224`, `0571-****4321`."""
    try:
        text = normalise_phone(value)
    except ValueError:
        return _mask_middle(re.sub(r"\s+", "", str(value)), keep_head=3, keep_tail=4)
    if "-" not in text:
        return _mask_middle(text, keep_head=3, keep_tail=4)
    area, local, *extension = text.split("-")
    return "-".join([area, _mask_middle(local, keep_head=0, keep_tail=4), *extension])


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 hex digest of `value` (pass it normalised) under a secret `key`."""
    if not key:
        raise ValueError("keyed_hash needs a non-empty secret key")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def _mask_middle(text: str, keep_head: int, keep_tail: int) -> str:
    """Replace all but the head and tail with `*`; short values are masked entirely."""
    if len(text) < keep_head + keep_tail + 4:
        return "*" * len(text)
    return text[:keep_head] + "*" * (len(text) - keep_head - keep_tail) + text[-keep_tail:]
