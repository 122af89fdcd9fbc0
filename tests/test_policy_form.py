"""A policy's common fields on a form, and the policy in Chinese sentences (pure, no database)."""
from __future__ import annotations

import pytest

from ledger.errors import LedgerError
from ledger.incentives import describe, policy_form
from ledger.incentives.policy import DEFAULT_POLICY_PATH, Policy

BASE = Policy.parse(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))


def test_the_form_filled_from_a_policy_gives_the_same_policy_back():
    values = policy_form.form_values(BASE)
    assert values["star_hours"] == "100、300、600、1000、1500" and values["per_day_hours"] == "10"
    assert Policy.parse(policy_form.document_from_form(BASE, values)) == BASE


def test_changed_fields_change_only_those_rules():
    values = policy_form.form_values(BASE) | {"per_hour": "12.5", "per_day_hours": "", "per_activity_hours": "7.5",
                                              "expiry_rule": "months", "expiry_months": "24",
                                              "star_hours": "50, 200 500"}
    changed = Policy.parse(policy_form.document_from_form(BASE, values))
    assert str(changed.points_per_hour) == "12.5" and changed.caps.per_day_minutes is None
    assert changed.caps.per_activity_minutes == 450 and changed.expiry_months == 24
    assert [(r.minutes, r.min_months_registered) for r in changed.star_levels] == [(3000, 0), (12000, 0), (30000, 12)]
    assert changed.tag_multipliers == BASE.tag_multipliers and changed.date_tags == BASE.date_tags


@pytest.mark.parametrize(("change", "field"), [
    ({"name": " "}, "name"), ({"per_hour": "十"}, "per_hour"), ({"per_hour": "-1"}, "per_hour"),
    ({"per_day_hours": "0.001"}, "per_day_hours"), ({"star_hours": "300、100"}, "star_hours"),
    ({"star_hours": ""}, "star_hours"), ({"expiry_rule": "months", "expiry_months": "x"}, "expiry_months"),
    ({"rounding": "weird"}, "rounding"),
])
def test_a_bad_value_is_refused_next_to_its_field(change, field):
    with pytest.raises(LedgerError) as error:
        policy_form.document_from_form(BASE, policy_form.form_values(BASE) | change)
    assert error.value.field == field


def test_the_toml_writer_quotes_chinese_keys_and_keeps_arrays_of_tables():
    text = policy_form.to_toml({"a": {"应急": "1.5", "n": 3, "ok": True, "list": ["x", "y"]},
                                "levels": [{"hours": 1}, {"hours": 2}]})
    assert '"应急" = "1.5"' in text and "[[levels]]" in text and 'list = ["x", "y"]' in text


def test_the_policy_in_chinese_sentences():
    items = dict(describe.policy_items(BASE))
    assert items["积分"] == "每服务 1 小时得 10 积分，按四舍五入取整；积分由县（区）中心统一承担。"
    assert items["封顶"] == "每次活动最多计 8 小时；每人每天最多计 10 小时；每人每年最多计 1000 小时。"
    assert items["星级"].startswith("一星：累计服务时长满 100 小时；")
    assert "五星：累计服务时长满 1500 小时且注册满 36 个月，经审核认定。" in items["星级"]
    assert "春节（2026-02-16 至 2026-02-22）" in items["特殊日期"]
    assert not any(word in text for text in items.values() for word in ("half_up", "county", "None", "{"))
