"""Domain pieces of the console: volunteer search at a desk, the audit log and verify in Chinese."""
from __future__ import annotations

import pytest

from ledger.book.verify_words import problem_text, verify_in_chinese
from ledger.errors import ValidationFailed
from ledger.people import volunteers
from ledger.people.access import SYSTEM
from ledger.people.search import search_volunteers
from ledger.store.audit import audit_entries, detail_text
from tests import factories as f


def _register(ctx, unit_id, name, phone):
    with ctx.uow() as uow:
        created = volunteers.register_volunteer(uow.session, SYSTEM, ctx.secret_key, volunteers.RegisterVolunteer(
            name=name, home_unit_id=unit_id, id_number=f.random_id_number(), phone=phone), ctx.today())
        uow.commit()
        return created.id, created.number


def _search(ctx, principal, text):
    with ctx.uow() as uow:
        return [row["id"] for row in search_volunteers(uow.session, principal, ctx.secret_key, text)]


def test_a_desk_finds_a_volunteer_by_name_phone_digits_phone_or_number_in_its_scope(ctx):
    units = f.tree(ctx)
    suffix = f.ref("")[-4:].translate(str.maketrans("abcdef", "123456"))
    zhang, number = _register(ctx, units["station_a"], f"张{suffix}明", f"1391234{suffix}")
    other, _ = _register(ctx, units["station_b"], f"张{suffix}亮", f"1381234{suffix}")
    operator, _ = f.user(ctx, "unit_admin", units["station_a"])
    assert _search(ctx, operator, f"{suffix}明") == [zhang]
    assert _search(ctx, operator, f"张{suffix}") == [zhang]  # station B's 张 is out of scope
    assert set(_search(ctx, SYSTEM, f"张{suffix}")) == {zhang, other}
    assert zhang in _search(ctx, operator, suffix)  # the phone's last four digits
    assert _search(ctx, operator, f"139 1234 {suffix}") == [zhang]  # the whole phone, by its hash
    assert _search(ctx, operator, number) == [zhang]
    assert _search(ctx, operator, "100%") == []  # LIKE wildcards are text


@pytest.mark.parametrize("text", ["", "  ", "12"])
def test_too_little_to_search_is_refused_in_chinese(ctx, text):
    with pytest.raises(ValidationFailed) as error:
        _search(ctx, SYSTEM, text)
    assert error.value.field == "q" and "请" in error.value.message


def test_audit_entries_have_chinese_action_names_and_details(ctx):
    units = f.tree(ctx)
    with ctx.uow() as uow:
        entries = audit_entries(uow.session, limit=5, action="unit.create")
    assert entries and entries[0]["action_name"] == "新建单位" and entries[0]["detail_text"].startswith("编码：")
    assert units
    assert detail_text({"reason": "重复录入", "records": [1, 2], "ok": True}) == "原因：重复录入；记录数：1、2；ok：是"


def test_verify_results_read_in_chinese():
    clean = verify_in_chinese({"ok": True, "transactions": 3, "postings": 6, "accounts": 4, "checkpoints": 1,
                               "problems": []})
    assert clean["verdict"].startswith("核验通过") and "交易 3 笔" in clean["counts"]
    bad = verify_in_chinese({"ok": False, "problems": [
        {"check": "balance", "table": "accounts", "row": 7, "detail": "cached balance 50 but postings sum to 40"},
        {"check": "something_new", "table": "x", "row": 1, "detail": "english"}]})
    assert bad["problems"][0] == "账户编号 7：账户余额缓存与分录合计不符（缓存余额 50，分录合计 40）。"
    assert bad["problems"][1] == "记录编号 1：检查项 something_new 未通过。"
    assert "2 处问题" in bad["verdict"]
    assert problem_text({"check": "balanced", "table": "transactions", "row": 9,
                         "detail": "POINTS postings sum to 5, not 0"}).endswith("（合计 5）。")
