"""A ranking definition (评选办法) in sentences, for the committee's 说明 sheet and the console.

Pure: it reads a validated definition document (`definitions.validate_definition`) and says
in Chinese what is ranked, how, who is eligible, how many are shortlisted and how ties are
broken.  A name it does not know (a rule added later) is shown as its code, never dropped.
"""
from __future__ import annotations

from decimal import Decimal

from ledger.book.amounts import hours_text
from ledger.rankings.definitions import METRIC_NAMES

SUBJECT_NAMES = {"volunteer": "志愿者", "team": "队伍"}
PERIOD_NAMES = {"month": "每月", "quarter": "每季度", "year": "每年"}
TIE_BREAK_NAMES = {**{name: f"{label}高者在前" for name, label in METRIC_NAMES.items()},
                   "earlier_registration": "注册时间早者在前", "number": "编号小者在前",
                   "id": "登记顺序在前者在前"}
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
             ("并列处理", tie_break_text(doc.get("tie_break", [])))]
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
    if rules.get("min_star_level"):
        parts.append(f"星级不低于 {rules['min_star_level']} 星")
    if rules.get("no_reversed_records"):
        parts.append("评选期间没有被冲正的服务记录")
    if rules.get("active_membership"):
        parts.append("期末仍在本单位登记在册")
    known = {"min_minutes", "min_hours_basis", "min_star_level", "no_reversed_records", "active_membership"}
    parts += [f"{key} = {value}" for key, value in rules.items() if key not in known and value]
    if not parts:
        return f"不设条件，评选期间有服务记录的{subject}都是候选。"
    return "；".join(parts) + "。"


def quota_text(quota: dict) -> str:
    """The quota as one sentence: top N or top share, overall or per unit."""
    if "top_n" in quota:
        amount = f"前 {quota['top_n']} 名入围"
    else:
        share = Decimal(str(quota.get("top_share", "0"))) * 100
        amount = f"前 {share.normalize():f}% 入围（向下取整，至少 1 名）"
    scope = "每个下级单位分别计算名额" if quota.get("per") == "unit" else "在整个范围内统一计算"
    return f"{amount}，{scope}。"


def tie_break_text(tie_break: list[str]) -> str:
    """How ties are broken, in order; the registration order decides last."""
    steps = [TIE_BREAK_NAMES.get(name, name) for name in tie_break]
    if not steps:
        return "排序指标相同时，登记顺序在前者在前。"
    return "排序指标相同时，依次" + "，再".join(steps) + "。"
