"""Administrative actions are written to the audit trail, and the trail is append-only.

Every action below is taken over HTTP by a named admin; the trail (GET /audit, read by an
auditor) must name each one with its actor and target.  The database itself refuses to
change or delete an audit entry, on both engines.
"""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests import factories as f
from tests.authz_world import build_world

EXPECTED_ACTIONS = {
    "unit.create", "team.create", "user.create", "token.issue", "volunteer.register", "policy.publish",
    "policy.adjustment.confirm", "ranking.define", "ranking.run", "ranking.publish", "ranking.supersede",
    "targets.report", "record.reverse", "volunteer.transfer", "import.approve", "desk.create", "desk.price",
    "desk.cancel", "deployment_key.trust", "volunteer.export", "certificate.issue", "sign_in_code.issue",
}


def test_admin_actions_are_in_the_audit_trail(client, ctx):
    w = build_world(client, ctx)  # units, teams, desks, policies, rankings, keys, exports, certificates
    admin = w.admin("GET", "/me")["username"]
    created = w.admin("POST", "/users", json={"username": f.ref("op"), "role": "desk_operator",
                                              "unit_id": w.ids["station_a"], "desk_id": w.ids["desk"]})
    w.admin("POST", f"/users/{created['id']}/tokens")
    w.admin("POST", "/volunteers", json={"name": "周八", "home_unit_id": w.ids["station_a"]})
    w.admin("POST", f"/service-records/{w.record(w.volunteer(), posted=True)}/reverse", json={"reason": "录入错误"})
    w.admin("POST", f"/volunteers/{w.volunteer()}/transfer", json={"to_unit_id": w.ids["point"],
                                                                    "effective_on": "2026-01-01"})
    w.admin("POST", f"/imports/{w.batch()}/approve")
    w.admin("POST", f"/desks/{w.ids['desk']}/items/{w.ids['item']}/price", json={"price_points": 1})
    w.admin("POST", f"/desks/{w.ids['desk']}/redemptions/{w.receipt()}/cancel", json={"reason": "顾客退回"})
    w.admin("POST", f"/policies/adjustment-runs/{w.adjustment_run()}/confirm")
    definition = w.definition()
    first = w.ranking_run(definition)
    w.admin("POST", f"/rankings/runs/{first}/publish")
    w.admin("POST", f"/rankings/runs/{first}/supersede", json={"by_run_id": w.fresh_ranking_run(definition),
                                                               "reason": "补录"})
    w.admin("POST", f"/selfservice/volunteers/{w.ids['V']}/sign-in-codes", json={"kind": "code"})

    trail = w.admin("GET", "/audit?limit=1000", role="auditor")
    mine = [e for e in trail if e["actor"] == admin]
    missing = EXPECTED_ACTIONS - {e["action"] for e in mine}
    assert not missing, f"admin actions without an audit entry: {sorted(missing)}"
    assert all(e["target"] for e in mine)


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"])
def test_the_audit_trail_refuses_change(ctx, statement):
    units = f.tree(ctx)  # makes audit entries
    assert units
    with pytest.raises(Exception) as refused:
        with ctx.engine.begin() as conn:
            conn.execute(text(statement))
    assert "append-only" in str(refused.value).lower() or "audit_log" in str(refused.value)
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() > 0
