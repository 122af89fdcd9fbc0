"""Every work page of the console reads in Chinese: no English outside names, codes and the
formats people know (the check of tests/test_chinese_messages.py), with real data on each."""
from __future__ import annotations

import re

from sqlalchemy import select

from ledger.people import org
from ledger.people.access import SYSTEM
from ledger.people.tables import Team, Unit, User, Volunteer
from ledger.rankings.tables import RankingDefinition
from ledger.redemption.tables import Desk
from tests import test_archive as ta, test_rankings as tr
from tests.console_support import client_sign_in, console_client, staff  # noqa: F401
from tests.test_chinese_messages import english_in, visible_text
from tests.test_console_desk import desk_world


def prose(page_html: str) -> str:
    """The page as read: a policy document in a text box is code, not prose."""
    return visible_text(re.sub(r"<textarea\b.*?</textarea>", " ", page_html, flags=re.S))


def test_the_work_pages_have_no_english(console_client, ctx):
    units = ta.build(ctx)
    definition = tr.define(ctx, units, unit_id=units["institute"], eligibility={"min_hours": 1})
    run = tr.run(ctx, definition["id"], period="2025")
    _, desk_id, _, volunteer = desk_world(ctx)
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    paths = [f"/console/policies?unit_id={units['center']}",
             f"/console/policies/draft?unit_id={units['center']}&mode=form",
             f"/console/rankings?unit_id={units['institute']}", "/console/rankings/define",
             f"/console/rankings/runs/{run['id']}", f"/console/targets?unit_id={units['institute']}&period=2025-Q1",
             f"/console/targets?unit_id={units['station_a']}&period=2025",
             f"/console/desk?desk_id={desk_id}&volunteer_id={volunteer}", f"/console/desk?desk_id={desk_id}&q=秀英",
             f"/console/desk/items?desk_id={desk_id}",
             f"/console/archive?unit_id={units['station_a']}&period=2025-H1", "/console/audit"]
    with ctx.uow() as uow:  # user names are names, shown as they are ("test" set the test passwords)
        names = (ta.HOSTILE, "test", *uow.session.execute(select(User.username)).scalars(),
                 *(code for table in (Unit, Team, Desk, RankingDefinition)  # codes are codes
                   for code in uow.session.execute(select(table.code)).scalars()),
                 # names other tests of the session gave (hostile ones too) are names, shown as given
                 *(name for table in (Unit, Team, Desk, Volunteer)
                   for name in uow.session.execute(select(table.name)).scalars()))
    for path in paths:
        answer = console_client.get(path)
        assert answer.status_code == 200, path
        assert english_in(prose(answer.text), names) == [], path


def test_a_hostile_name_is_shown_as_text_on_the_work_pages(console_client, ctx):
    units = ta.build(ctx)
    script = "<script>alert(1)</script>"
    with ctx.uow() as uow:
        org.create_team(uow.session, SYSTEM, org.CreateTeam(ta.f.ref("T"), script, units["station_a"], "文化文艺"))
        uow.commit()
    admin, _ = staff(ctx, "admin")
    client_sign_in(console_client, admin.username)
    for path in (f"/console/targets?unit_id={units['station_a']}&period=2025",
                 f"/console/archive?unit_id={units['station_a']}&period=2025-H1"):
        answer = console_client.get(path)
        assert script not in answer.text, path
    targets = console_client.get(f"/console/targets?unit_id={units['station_a']}&period=2025").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in targets
