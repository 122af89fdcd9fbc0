"""A ranking definition in sentences: what the committee's 说明 sheet and the console say."""
from __future__ import annotations

from ledger.rankings.definitions import validate_definition
from ledger.rankings.describe import definition_items, describe_definition


def _doc(**changes):
    return validate_definition({"code": "y", "name": "年度优秀志愿者", "unit_id": 1, "period_kind": "year",
                                **changes})


def test_every_rule_of_a_volunteer_ranking_is_a_sentence():
    doc = _doc(metrics=["hours", "points"], tie_break=["activities", "earlier_registration",
                                                       {"by": "last_service", "order": "asc"}],
               eligibility={"min_hours": 20, "min_hours_basis": "year", "min_star_level": 2,
                            "no_reversed_records": True, "active_membership": True},
               quota={"top_share": "10%", "per": "unit"})
    assert dict(definition_items(doc)) == {
        "评选对象": "志愿者，每年评选一次。",
        "排序": "依次按时长、积分从高到低排列。",
        "资格条件": "本年度累计服务时长不少于 20 小时；星级不低于 2 星；评选期间没有被冲正的服务记录；"
                    "截至日仍在本单位登记在册。",
        "名额": "符合条件者的前 10% 入围（向下取整，至少 1 名），每个下级单位分别计算名额。",
        "并列处理": "排序指标相同时，依次比较：活动次数高者在前，再注册日期早者在前，再最后一次服务日期早者在前。",
        "公示": "结果发布后公示 7 天。",
    }


def test_the_rules_added_later_are_said_too():
    doc = _doc(eligibility={"min_points": 50, "min_activities": 3, "no_upheld_complaint": True,
                            "min_registration_months": 6})
    assert dict(definition_items(doc))["资格条件"] == (
        "评选期间积分不少于 50 分；参加活动不少于 3 次；注册满 6 个月；评选期间没有成立的投诉。")


def test_a_ranking_without_rules_says_everyone_is_a_candidate():
    items = dict(definition_items(_doc(subject="team", quota={"top_n": 3}, tie_break=[])))
    assert items["资格条件"] == "不设条件，评选期间有服务记录的队伍都是候选。"
    assert items["名额"] == "前 3 名入围，在整个范围内统一计算。"
    assert items["并列处理"] == "排序指标相同时，登记顺序在前者在前。"
    assert items["队伍时长"] == "队伍的时长按活动所属队伍计算。"


def test_sentences_carry_their_heading_and_no_python_values():
    sentences = describe_definition(_doc(eligibility={"min_hours": 1.5}))
    assert sentences[2] == "资格条件：评选期间服务时长不少于 1.5 小时。"
    assert sentences[4] == "并列处理：排序指标相同时，依次比较：登记顺序在前者在前。"
    assert not any(mark in s for s in sentences for mark in ("{", "True", "None", "'"))
