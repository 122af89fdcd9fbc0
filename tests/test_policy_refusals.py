"""A policy that cannot do what it says is refused with the path and the reason; what it says
that changes nothing is a warning; its rules read as a Chinese 办法 summary (API and CLI)."""
from __future__ import annotations

import uuid

import pytest

from api.cli import main
from ledger.errors import PolicyInvalid
from ledger.incentives.coherence import policy_warnings
from ledger.incentives.policy import Policy
from tests.scenarios.test_policy_records_before_and_after_a_policy_change import simple_policy

BASE = simple_policy("县办法", 10)


@pytest.mark.parametrize("extra, path, reason", [
    ('[multipliers.tag]\n"志愿服务日" = 1.2\n', "multipliers.tag.志愿服务日", "no [[date_tags]] rule"),
    ('[service]\ntags = ["应急"]\n[multipliers.tag]\n"敬老" = 1.2\n', "multipliers.tag.敬老", "unknown tag"),
    ('[[date_tags]]\nname = "春节"\nfrom = 2026-02-16\nto = 2026-02-22\nprecedence = 2\n'
     '[[date_tags]]\nname = "元宵"\nfrom = 2026-02-17\nto = 2026-02-20\nprecedence = 1\n',
     "date_tags[1]", "元宵 never applies"),
    ("[caps]\nper_week_minutes = 0\n", "caps.per_week_minutes", "at least 1"),
    ("[caps]\nper_week_minutes = 20000\n", "caps.per_week_minutes", "a week has only 10080 minutes"),
    ("[caps]\nper_month_points = -5\n", "caps.per_month_points", "at least 1"),
    ('[points]\nper_hour = 10\nrounding = "banker"\n', "points.rounding", "unknown value 'banker'"),
])
def test_a_policy_that_cannot_do_what_it_says_is_refused(extra, path, reason):
    """Each document names something that could never apply, or contradicts itself."""
    document = BASE.replace("[points]\nper_hour = 10\n", "") if extra.startswith("[points]") else BASE
    with pytest.raises(PolicyInvalid) as refused:
        Policy.parse(document + "\n" + extra)
    assert refused.value.field == path and reason in str(refused.value)


def test_a_date_rule_with_its_multiplier_and_a_declared_tag_are_accepted():
    """志愿服务日 with its monthly rule, 应急 declared in service.tags: valid, no warning."""
    policy = Policy.parse(BASE + '[service]\ntags = ["应急"]\n[multipliers.tag]\n"应急" = 1.5\n"志愿服务日" = 1.2\n'
                                 '[[date_tags]]\nname = "志愿服务日"\nmonthly_day = 5\n')
    assert policy.activity_tags == ("应急",) and policy_warnings(policy) == []
    assert Policy.from_dict(policy.to_dict()) == policy  # service.tags survives the canonical form


def test_warnings_for_rules_that_change_nothing():
    """A date rule without a multiplier; a day cap of 12 h above a week cap of 10 h."""
    policy = Policy.parse(BASE + "[caps]\nper_day_minutes = 720\nper_week_minutes = 600\n"
                                 '[[date_tags]]\nname = "庙会"\nmonthly_day = 9\n')
    assert policy_warnings(policy) == [
        {"path": "date_tags[0]", "reason": "庙会 has no multiplier in multipliers.tag: the date rule changes nothing"},
        {"path": "caps.per_day_minutes", "reason": "above caps.per_week_minutes (600): it can never bind"}]


def test_the_rules_in_chinese_over_http_and_refusals_name_the_path(client, ctx):
    from tests import factories as f
    _, token = f.user(ctx, "admin")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    document = BASE + "[caps]\nper_day_points = 20\nper_year_minutes = 60000\n"
    response = client.post("/policies/describe", headers=headers, json={"document": document})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rules_text"].splitlines()[0] == "县办法"
    assert "第一条　积分：每服务 1 小时得 10 积分，按四舍五入取整" in body["rules_text"]
    assert "每人每天最多得 20 积分（服务时长照计）；每人每年最多计 1000 小时。" in body["rules_text"]
    refused = client.post("/policies/describe", headers=headers,
                          json={"document": BASE + '[multipliers.tag]\n"国庆" = 1.5\n'})
    assert refused.status_code == 422 and refused.json()["field"] == "multipliers.tag.国庆"


def test_the_rules_in_chinese_from_the_command_line(db_url, tmp_path, capsys):
    draft = tmp_path / "draft.toml"
    draft.write_text(BASE + '[[date_tags]]\nname = "庙会"\nmonthly_day = 9\n', encoding="utf-8")
    assert main(["--database-url", db_url, "policy", "describe", str(draft)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("县办法\n第一条　积分：") and "庙会（每月 9 日）" in out
    assert "注意 (warning) date_tags[0]: 庙会 has no multiplier" in out


def test_a_policy_published_with_a_rule_that_changes_nothing_says_so(client, ctx):
    """Published (it is valid), with the warning in the answer."""
    from tests import factories as f
    units = f.tree(ctx)
    _, token = f.user(ctx, "admin")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    response = client.post("/policies", headers=headers, json={
        "unit_id": units["center"], "effective_from": "2026-01-01",
        "document": BASE + '[[date_tags]]\nname = "庙会"\nmonthly_day = 9\n'})
    assert response.status_code == 201, response.text
    assert response.json()["warnings"] == [
        {"path": "date_tags[0]", "reason": "庙会 has no multiplier in multipliers.tag: the date rule changes nothing"}]
