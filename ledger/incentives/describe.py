"""A policy (嘉许激励办法) in Chinese sentences: what the console shows as the policy in force.

Pure: it reads a validated `Policy` and says, rule by rule, how service becomes points and
stars.  The sentences follow the document's sections, so a reader can find each in the TOML.
"""
from __future__ import annotations

from decimal import Decimal

from ledger.incentives.document import decimal_text
from ledger.incentives.policy import Policy

ROUNDING_NAMES = {"half_up": "四舍五入", "half_even": "四舍六入五成双", "down": "舍去小数", "floor": "向下取整",
                  "up": "有小数即进一", "ceil": "向上取整"}
FUNDING_NAMES = {"county": "县（区）中心统一承担", "unit": "各单位自行承担，志愿者调动时积分随之转移",
                 "none": "不设资金来源"}
STACK_NAMES = {"multiply": "同时适用的倍数相乘", "max": "同时适用多个倍数时只取最大的一个"}
COMPLAINT_NAMES = {"zero_points": "该次服务照计时长、不计积分", "zero_hours_and_points": "该次服务不计时长和积分",
                   "zero_activity_points": "该志愿者在该活动中的服务照计时长、均不计积分",
                   "deduct": "扣减 {deduct} 积分，服务时长照计", "ignore": "不影响时长和积分"}
STAR_BASIS_NAMES = {"cumulative_hours": "累计服务时长", "year_hours": "当年服务时长"}
LEVEL_NAMES = ("", "一星", "二星", "三星", "四星", "五星", "六星", "七星", "八星", "九星", "十星")


def _hours(minutes: int) -> str:
    return decimal_text(Decimal(minutes) / 60)


def _rates(mapping: dict[str, Decimal], suffix: str = "", skip_one: bool = False) -> str:
    items = [f"{key}{suffix} ×{decimal_text(value)}" for key, value in mapping.items()
             if not (skip_one and value == 1)]
    return "、".join(items)


def policy_items(policy: Policy) -> list[tuple[str, str]]:
    """The policy as (heading, sentence) pairs, one per rule, in the document's order."""
    items = [("名称", policy.name)]
    if policy.description:
        items.append(("说明", policy.description))
    items += [
        ("积分", f"每服务 1 小时得 {decimal_text(policy.points_per_hour)} 积分，"
                 f"按{ROUNDING_NAMES.get(policy.rounding, policy.rounding)}取整；积分由"
                 f"{FUNDING_NAMES.get(policy.funding, policy.funding)}。"),
        ("倍数", _multipliers(policy)),
        ("服务类别", "、".join(policy.categories) + "。"),
        ("不计时长或积分", _kinds(policy)),
        ("封顶", _caps(policy)),
        ("投诉", "投诉经核实成立的，" + COMPLAINT_NAMES.get(policy.complaint_upheld, policy.complaint_upheld)
         .format(deduct=policy.complaint_deduct_points) + "。"),
        ("积分有效期", _expiry(policy)),
        ("星级", _stars(policy)),
    ]
    if policy.date_tags:
        items.append(("特殊日期", _date_tags(policy)))
    return items


def _multipliers(policy: Policy) -> str:
    parts = [STACK_NAMES.get(policy.stack, policy.stack)]
    if policy.tag_multipliers:
        parts.append("活动标签与特殊日期：" + _rates(policy.tag_multipliers))
    if policy.rating_multipliers:
        ratings = dict(sorted(policy.rating_multipliers.items(), reverse=True))
        parts.append("评单评分：" + _rates(ratings, suffix="星"))
    special = _rates(policy.category_multipliers, skip_one=True)
    if special:
        parts.append("服务类别：" + special + "（其余类别 ×1）")
    return "；".join(parts) + "。"


def _kinds(policy: Policy) -> str:
    parts = []
    if policy.no_hours_kinds:
        parts.append("不计时长（也不计积分）：" + "、".join(sorted(policy.no_hours_kinds)))
    if policy.no_points_kinds:
        parts.append("计时长、不计积分：" + "、".join(sorted(policy.no_points_kinds)))
    return "；".join(parts) + "。" if parts else "各类服务都计时长和积分。"


SCOPE_NAMES = {"activity": "每次活动", "day": "每人每天", "week": "每人每周", "month": "每人每月", "year": "每人每年"}


def _caps(policy: Policy) -> str:
    caps = policy.caps
    parts = []
    for scope, label in SCOPE_NAMES.items():
        minutes, points = caps.limit("minutes", scope), caps.limit("points", scope)
        if minutes is not None:
            parts.append(f"{label}最多计 {_hours(minutes)} 小时")
        if points is not None:
            parts.append(f"{label}最多得 {points} 积分（服务时长照计）")
    if not parts:
        return "服务时长和积分不封顶。"
    return "；".join(parts) + "。"


def policy_text(policy: Policy) -> str:
    """The policy as a readable 办法 summary: one numbered article (条) per rule."""
    numbers = "一二三四五六七八九十"
    lines = [policy.name]
    for index, (heading, sentence) in enumerate(policy_items(policy)[1:], start=1):
        number = numbers[index - 1] if index <= 10 else "十" + numbers[index - 11]
        lines.append(f"第{number}条　{heading}：{sentence}")
    return "\n".join(lines)


def _expiry(policy: Policy) -> str:
    if policy.expiry_rule == "end_of_following_year":
        return "当年获得的积分在次年 12 月 31 日到期，兑换时先用最早获得的积分。"
    if policy.expiry_rule == "months":
        return f"积分自获得起 {policy.expiry_months} 个月后的月末到期，兑换时先用最早获得的积分。"
    return "积分长期有效。"


def _stars(policy: Policy) -> str:
    basis = STAR_BASIS_NAMES.get(policy.star_basis, policy.star_basis)
    levels = []
    for rule in policy.star_levels:
        name = LEVEL_NAMES[rule.level] if rule.level < len(LEVEL_NAMES) else f"{rule.level}星"
        text = f"{name}：{basis}满 {_hours(rule.minutes)} 小时"
        if rule.min_months_registered:
            text += f"且注册满 {rule.min_months_registered} 个月"
        if rule.served_each_of_last_months:
            text += f"、此前 {rule.served_each_of_last_months} 个月每月都有服务"
        if rule.no_upheld_complaint_months:
            text += f"、{rule.no_upheld_complaint_months} 个月内无经核实的投诉"
        if rule.requires_review:
            text += "，经审核认定"
        levels.append(text)
    return "；".join(levels) + "。"


def _date_tags(policy: Policy) -> str:
    parts = []
    for tag in policy.date_tags:
        if tag.is_range:
            when = tag.start.isoformat() if tag.start == tag.end else f"{tag.start} 至 {tag.end}"
            parts.append(f"{tag.name}（{when}）")
        else:
            parts.append(f"{tag.name}（每月 {tag.monthly_day} 日）")
    return "、".join(parts) + "，按当日的倍数计分。"
