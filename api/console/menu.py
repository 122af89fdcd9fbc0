"""The console's menu: which pages each role sees (a page checks the same entry before it serves).

Page modules add their entries with `register`; the menu shows them in `order`.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLE_NAMES = {"admin": "系统管理员", "unit_admin": "单位管理员", "desk_operator": "兑换点操作员",
              "auditor": "审计员", "volunteer": "志愿者"}
MANAGERS = ("admin", "unit_admin")


@dataclass(frozen=True)
class MenuItem:
    """One entry of the menu: a key, its Chinese label, where it leads, who sees it."""

    key: str
    label: str
    href: str
    roles: tuple[str, ...]
    order: int = 100


_ITEMS: dict[str, MenuItem] = {}


def register(item: MenuItem) -> MenuItem:
    """Add (or replace) a menu entry."""
    _ITEMS[item.key] = item
    return item


def menu_for(role: str) -> list[MenuItem]:
    """The entries a role sees, in order."""
    return sorted((i for i in _ITEMS.values() if role in i.roles), key=lambda i: (i.order, i.key))


def may_open(role: str, key: str) -> bool:
    """True when the role's menu has the entry `key`."""
    item = _ITEMS.get(key)
    return item is not None and role in item.roles


register(MenuItem("home", "首页", "/", ("admin", "unit_admin", "desk_operator", "auditor"), order=0))
# the pages that already exist; the console's own versions replace these entries
register(MenuItem("rankings", "评先评优", "/rankings/page", ("admin", "unit_admin", "auditor"), order=60))
register(MenuItem("targets", "目标考核", "/targets/page", ("admin", "unit_admin", "auditor"), order=70))
register(MenuItem("desk", "兑换点", "/desk", ("admin", "desk_operator"), order=80))
register(MenuItem("password", "修改密码", "/account/password",
                  ("admin", "unit_admin", "desk_operator", "auditor"), order=900))
