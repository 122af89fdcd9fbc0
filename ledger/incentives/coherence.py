"""Does a valid policy document do what it says?  Checks across sections, pure.

`check_tags` refuses what could never apply (a date tag's multiplier without its date rule,
a tag the policy does not know, a date range always overridden); `policy_warnings` names
what is allowed but changes nothing.  Refusals are `PolicyInvalid(path, reason)`.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ledger.errors import PolicyInvalid
from ledger.incentives.document import CAP_MEASURES, CAP_SCOPES, DateTag

# Date tags a county names in its multipliers: each needs a [[date_tags]] rule that says its dates.
KNOWN_DATE_TAGS = ("志愿服务日", "学雷锋纪念日", "国际志愿者日", "元旦", "春节", "元宵", "清明", "劳动节",
                   "端午", "中秋", "国庆")


def check_tags(fields: dict[str, Any]) -> None:
    """A tag multiplier must be able to apply: a date tag needs its date rule; with
    `service.tags` declared, any other tag must be one of them."""
    defined = {tag.name for tag in fields["date_tags"]}
    known = set(fields["activity_tags"] or ()) | defined
    for name in fields["tag_multipliers"]:
        if name in KNOWN_DATE_TAGS and name not in defined:
            raise PolicyInvalid(f"multipliers.tag.{name}", f"{name} is a date tag (特殊日期) and no [[date_tags]] "
                                "rule says its dates: the multiplier would never apply")
        if fields["activity_tags"] is not None and name not in known:
            raise PolicyInvalid(f"multipliers.tag.{name}",
                                "unknown tag: neither in service.tags nor defined by [[date_tags]]")
    tags = fields["date_tags"]
    for index, tag in enumerate(tags):
        if tag.is_range and _shadowed(tag, [other for other in tags if other.is_range and other.name != tag.name]):
            raise PolicyInvalid(f"date_tags[{index}]", f"{tag.name} never applies: every day of it is covered by a "
                                "range of higher precedence")


def _shadowed(tag: DateTag, others: list[DateTag]) -> bool:
    """True when every day of the range `tag` lies in a range of higher precedence."""
    higher = [o for o in others if o.precedence is not None and tag.precedence is not None
              and o.precedence > tag.precedence]
    reached = tag.start  # the first day not yet known to be covered
    for other in sorted(higher, key=lambda o: o.start):  # type: ignore[arg-type, return-value]
        if other.start > reached:  # type: ignore[operator]
            break
        reached = max(reached, date.fromordinal(other.end.toordinal() + 1))  # type: ignore[union-attr, type-var]
    return reached > tag.end  # type: ignore[operator]


def policy_warnings(policy: Any) -> list[dict[str, str]]:
    """What a valid policy says that can change nothing: published, but shown to the publisher."""
    found = []
    for index, tag in enumerate(policy.date_tags):
        if tag.name not in policy.tag_multipliers:
            found.append({"path": f"date_tags[{index}]",
                          "reason": f"{tag.name} has no multiplier in multipliers.tag: the date rule changes nothing"})
    for measure in CAP_MEASURES:
        for smaller, larger in zip(CAP_SCOPES[1:], CAP_SCOPES[2:]):
            low, high = policy.caps.limit(measure, smaller), policy.caps.limit(measure, larger)
            if low is not None and high is not None and low > high:
                found.append({"path": f"caps.per_{smaller}_{measure}",
                              "reason": f"above caps.per_{larger}_{measure} ({high}): it can never bind"})
    return found
