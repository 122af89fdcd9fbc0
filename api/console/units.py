"""The unit picker of the console's pages: the caller's scope as a tree (`org.unit_tree`), and
the unit a page shows (checked against the scope where its id enters)."""
from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlencode

from ledger.errors import LedgerError
from ledger.people import org
from ledger.people.access import Principal, require_unit
from ledger.store.uow import Context
from ledger.store.usecase import read


def unit_tree(ctx: Context, principal: Principal) -> list[dict]:
    """The units the staff member may pick, nested."""
    return read(ctx, lambda s: org.unit_tree(s, principal))


def chosen_unit(ctx: Context, principal: Principal, unit_id: int | None, tree: list[dict]) -> dict | None:
    """The unit a page shows: the one asked for (in scope, else not found), or the first of the tree."""
    if unit_id is None:
        return {key: value for key, value in tree[0].items() if key != "children"} if tree else None
    return read(ctx, lambda s: org.unit_public(require_unit(s, principal, unit_id)))


def link_prefix(path: str, **params) -> str:
    """A link to `path` with the page's other parameters, ending in `unit_id=` for the tree's links."""
    kept = urlencode({key: value for key, value in params.items() if value not in (None, "")})
    return f"{path}?{kept + '&' if kept else ''}unit_id="


@contextmanager
def as_page():
    """A domain refusal on a page (an id outside the scope, a missing version) shown as a Chinese page."""
    from api.console.web import PageRefused
    from api.i18n import chinese_message

    try:
        yield
    except LedgerError as error:
        raise PageRefused(error.status, chinese_message(error.code, error.message, error.field)) from None
