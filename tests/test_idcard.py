"""身份证号 (GB 11643-1999) and phone numbers: check digit, normalising, masking, hashing."""
from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest
from hypothesis import given, strategies as st

from ledger.errors import ValidationFailed
from ledger.people.idcard import (
    id_birth_date,
    id_check_digit,
    id_number_problem,
    is_valid_id_number,
    keyed_hash,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    phone_problem,
    validate_id_number,
    validate_phone,
)

SYMBOLS = "0123456789X"
PROVINCES = ["11", "31", "33", "36", "44", "61", "65", "81"]


def mod11_2_holds(number: str) -> bool:
    """Independent oracle (ISO 7064 MOD 11-2): sum of a_i * 2^(18-i) over all 18 is 1 mod 11."""
    values = [10 if ch == "X" else int(ch) for ch in number]
    return sum(v * pow(2, 17 - i) for i, v in enumerate(values)) % 11 == 1


def test_known_numbers_from_the_standard_and_the_sample():
    # 11010519491231002X is the worked example of GB 11643-1999; the other is from the sample ledger.
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("33032220010321315") == "4"
    assert is_valid_id_number("11010519491231002X")
    assert is_valid_id_number("330322200103213154")


@given(
    province=st.sampled_from(PROVINCES),
    county=st.integers(0, 9999),
    born=st.dates(date(1900, 1, 1), date(2020, 12, 31)),
    sequence=st.integers(0, 999),
)
def test_check_digit_accepts_its_own_and_rejects_every_other(province, county, born, sequence):
    first17 = f"{province}{county:04d}{born:%Y%m%d}{sequence:03d}"
    right = id_check_digit(first17)
    assert mod11_2_holds(first17 + right)
    assert id_number_problem(first17 + right) is None
    for wrong in SYMBOLS.replace(right, ""):
        problem = id_number_problem(first17 + wrong)
        assert problem is not None and "校验位错误" in problem
        assert not mod11_2_holds(first17 + wrong)


@pytest.mark.parametrize("raw, normalised", [
    ("11010519491231002x", "11010519491231002X"),
    (" 110105 19491231 002X ", "11010519491231002X"),
    ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),  # full-width input
])
def test_normalising_strips_spaces_and_upper_cases_x(raw, normalised):
    assert normalise_id_number(raw) == normalised
    assert validate_id_number(raw) == normalised


@pytest.mark.parametrize("number, words", [
    ("", "为空"),
    ("33032220010321315", "18位"),
    ("3303222001032131544", "18位"),
    ("33032220010321315A", "18位"),
    ("990322200103213154", "地区码"),  # 99 is no province
    ("330322200113213152", "出生日期"),  # month 13
    ("330322200102303153", "出生日期"),  # 30 February
    ("330322189912313150", "出生日期"),  # before 1900
    ("330322200103213155", "校验位错误"),
])
def test_each_kind_of_bad_number_is_named(number, words):
    problem = id_number_problem(number, today=date(2026, 11, 23))
    assert problem is not None and words in problem


def test_birth_date_after_today_is_refused():
    first17 = "33032220270101315"
    number = first17 + id_check_digit(first17)
    assert "出生日期" in id_number_problem(number, today=date(2026, 11, 23))
    assert id_birth_date(number) == date(2027, 1, 1)


def test_error_message_shows_only_the_masked_number():
    raw = "330322200103213155"
    with pytest.raises(ValidationFailed) as caught:
        validate_id_number(raw)
    assert raw not in caught.value.message
    assert "330***********3155" in caught.value.message
    assert caught.value.message.startswith("身份证号校验位错误 (check digit does not match)")
    assert caught.value.field == "身份证号"


def test_masking_keeps_first_three_and_last_four():
    assert mask_id_number("330322200103213154") == "330***********3154"
    assert mask_id_number("11010519491231002x") == "110***********002X"
    assert mask_id_number("12345") == "*****"  # too short to show anything


@pytest.mark.parametrize("raw, normalised, masked", [
    ("15110655224", "15110655224", "151****5224"),
    ("151 1065 5224", "15110655224", "151****5224"),
    ("+86 151-1065-5224", "15110655224", "151****5224"),
    ("0571-87654321", "0571-87654321", "0571-****4321"),
    ("(010)62345678", "010-62345678", "010-****5678"),
    ("02087654321", "020-87654321", "020-****4321"),
    ("0571-87654321转8001", "0571-87654321-8001", "0571-****4321-8001"),
])
def test_valid_phones_normalise_and_mask(raw, normalised, masked):
    assert normalise_phone(raw) == normalised
    assert validate_phone(raw) == normalised
    assert phone_problem(raw) is None
    assert mask_phone(raw) == masked


@pytest.mark.parametrize("raw", ["12345678901", "1511065522", "151106552240", "87654321", "abc"])
def test_invalid_phones_are_refused_with_masked_message(raw):
    with pytest.raises(ValidationFailed) as caught:
        validate_phone(raw)
    assert "联系电话格式无效" in caught.value.message
    assert caught.value.field == "联系电话"
    if len(raw) > 8:
        assert raw not in caught.value.message


def test_keyed_hash_is_hmac_sha256_hex():
    key = b"server-side secret"
    digest = keyed_hash("330322200103213154", key)
    expected = hmac.new(key, b"330322200103213154", hashlib.sha256).hexdigest()
    assert digest == expected and len(digest) == 64
    assert keyed_hash("330322200103213154", key) == digest
    assert keyed_hash("330322200103213154", b"another key") != digest
    with pytest.raises(ValueError):
        keyed_hash("330322200103213154", b"")
