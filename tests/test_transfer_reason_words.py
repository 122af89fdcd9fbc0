"""A move's membership history says where the volunteer went in Chinese ("调往<unit>"), as the
console's volunteer page shows it, when the person who moved them gave no reason."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ledger.people.access import SYSTEM
from ledger.people.tables import Membership
from ledger.transfers.moves import TransferVolunteer, transfer_volunteer
from tests import factories as f


def test_a_move_without_a_reason_is_said_in_chinese(ctx):
    units = f.tree(ctx)
    volunteer = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2026, 1, 5))
    with ctx.uow() as uow:
        transfer_volunteer(uow.session, SYSTEM, TransferVolunteer(volunteer_id=volunteer, to_unit_id=units["station_b"],
                                                                  effective_on=dt.date(2026, 3, 1)),
                           today=dt.date(2026, 3, 1), future_limit_days=30)
        uow.commit()
    with ctx.uow() as uow:
        reasons = uow.session.execute(select(Membership.ended_reason).where(
            Membership.volunteer_id == volunteer, Membership.ended_reason.is_not(None))).scalars().all()
    assert len(reasons) == 1 and reasons[0].startswith("调往") and "transferred" not in reasons[0]
