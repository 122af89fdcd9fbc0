"""A ranking definition (评选办法) in sentences, for the committee's 说明 sheet and the console.

Pure: it reads a validated definition document (`definitions.validate_definition`) and says
in Chinese what is ranked, how, who is eligible, how many are shortlisted and how ties are
broken.  A name it does not know (a rule added later) is shown as its code, never dropped.
"""
from __future__ import annotations

from decimal import Decimal

from ledger.book.amounts import hours_text
from ledger.rankings.definitions import (
    DATE_KEYS,
    METRIC_NAMES,
    TIE_BREAK_NAMES as KEY_NAMES,
    notice_days,
    rule,
    tie_break_keys,
)

SUBJECT_NAMES = {"volunteer": "志愿者", "team": "队伍"}
PERIOD_NAMES = {"month": "每月", "quarter": "每季度", "year": "每年"}
ORDER_WORDS = {"metric": {"desc": "高者在前", "asc": "低者在前"}, "date": {"asc": "早者在前", "desc": "晚者在前"},
               "code": {"asc": "小者在前", "desc": "大者在前"}, "id": {"asc": "在前者在前", "desc": "在后者在前"}}
ATTRIBUTION_NAMES = {"activity": "队伍的时长按活动所属队伍计算", "membership": "队伍的时长按成员隶属的队伍计算"}


def definition_items(doc: dict) -> list[tuple[str, str]]:
    """The definition as (heading, sentence) pairs, one per rule, for a two-column sheet."""
    subject = SUBJECT_NAMES.get(doc.get("subject", "volunteer"), doc.get("subject", ""))
    metrics = "、".join(METRIC_NAMES.get(m, m) for m in doc.get("metrics", []))
    period = PERIOD_NAMES.get(doc.get("period_kind"), doc.get("period_kind"))
    items = [("评选对象", f"{subject}，{period}评选一次。"),
             ("排序", f"依次按{metrics}从高到低排列。"),
             ("资格条件", eligibility_text(doc.get("eligibility", {}), subject)),
             ("名额", quota_text(doc.get("quota", {}))),
             ("并列处理", tie_break_text(doc)),
             ("公示", f"结果发布后公示 {notice_days(doc)} 天。")]
    if doc.get("subject") == "team":
        items.append(("队伍时长", ATTRIBUTION_NAMES.get(doc.get("team_attribution", "activity"), "") + "。"))
    return items


def describe_definition(doc: dict) -> list[str]:
    """The definition as Chinese sentences, one per rule ("名额：前 10 名入围，……")."""
    return [f"{heading}：{sentence}" for heading, sentence in definition_items(doc)]


def eligibility_text(rules: dict, subject: str = "志愿者") -> str:
    """The eligibility rules as one sentence; no rule says that every candidate is eligible."""
    parts = []
    minutes = rules.get("min_minutes", 0)
    if minutes:
        basis = "本年度累计" if rules.get("min_hours_basis") == "year" else "评选期间"
        parts.append(f"{basis}服务时长不少于 {hours_text(minutes)} 小时")
    if rule(rules, "min_points"):
        parts.append(f"评选期间积分不少于 {rule(rules, 'min_points')} 分")
    if rule(rules, "min_activities"):
        parts.append(f"参加活动不少于 {rule(rules, 'min_activities')} 次")
    if rules.get("min_star_level"):
        parts.append(f"星级不低于 {rules['min_star_level']} 星")
    if rule(rules, "min_registration_months"):
        parts.append(f"注册满 {rule(rules, 'min_registration_months')} 个月")
    if rules.get("no_reversed_records"):
        parts.append("评选期间没有被冲正的服务记录")
    if rule(rules, "no_upheld_complaint"):
        parts.append("评选期间没有成立的投诉")
    if rules.get("active_membership"):
        parts.append("截至日仍在本单位登记在册")
    if not parts:
        return f"不设条件，评选期间有服务记录的{subject}都是候选。"
    return "；".join(parts) + "。"


def quota_text(quota: dict) -> str:
    """The quota as one sentence: top N or top share, overall or per unit."""
    if "top_n" in quota:
        amount = f"前 {quota['top_n']} 名入围"
    else:
        share = Decimal(str(quota.get("top_share", "0"))) * 100
        amount = f"符合条件者的前 {share.normalize():f}% 入围（向下取整，至少 1 名）"
    scope = "每个下级单位分别计算名额" if quota.get("per") == "unit" else "在整个范围内统一计算"
    return f"{amount}，{scope}。"


def tie_break_text(doc: dict) -> str:
    """How ties are broken, key by key in order; the registration order decides last."""
    steps = []
    for name, order in tie_break_keys(doc):
        kind = "metric" if name in METRIC_NAMES else "date" if name in DATE_KEYS else "id" if name == "id" else "code"
        label = "登记顺序" if name == "id" else KEY_NAMES.get(name, name)
        steps.append(label + ORDER_WORDS[kind].get(order, order))
    if not steps:
        return "排序指标相同时，登记顺序在前者在前。"
    return "排序指标相同时，依次比较：" + "，再".join(steps) + "。"
