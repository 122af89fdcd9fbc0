"""Worked story, over HTTP: a volunteer with 350 hours and two stars moves from 东风村站 to
南岭村站, then to another county running its own deployment.  Every unit's figures are the
hand-computed ones before and after each hop, the star level continues, points follow the
policy, a package altered by one byte is refused, a second import changes nothing, and
`verify` passes on both deployments at the end.

Deployment 1 (county 1) funds points per unit (policy `funding = "unit"`); deployment 2
(county 2) runs the default policy (county funding).  Both pay 10 points an hour, so the
policies agree and points are carried across.
"""
from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from ledger.book.tables import DeploymentPeer
from tests import factories as f
from tests.conftest import drop_pg_database
from tests.test_transfers_support import bal, publish, second_deployment, serve, service_days


def h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


def _exchange_keys(one: TestClient, one_admin: str, two: TestClient, two_admin: str) -> None:
    """Each admin reads their own public key and the other trusts it (fingerprints compared by phone)."""
    own_one = one.get("/deployment-keys", headers=h(one_admin)).json()["own"]
    own_two = two.get("/deployment-keys", headers=h(two_admin)).json()["own"]
    for client, admin, peer in ((one, one_admin, own_two), (two, two_admin, own_one)):
        made = client.post("/deployment-keys", headers=h(admin), json={
            "deployment_id": peer["deployment_id"], "name": peer["name"], "public_key": peer["public_key"]})
        assert made.status_code == 201, made.text
        assert made.json()["fingerprint"] == peer["fingerprint"]


def _peer_id(ctx, deployment_id: str) -> int:
    with ctx.uow() as uow:
        return uow.session.execute(select(DeploymentPeer.id).where(
            DeploymentPeer.deployment_id == deployment_id)).scalar_one()


def _units(ctx, a, b) -> tuple:
    """(minutes served, points issued) of stations A and B."""
    return (bal(ctx, "unit_minutes_served", a), bal(ctx, "unit_points_issued", a),
            bal(ctx, "unit_minutes_served", b), bal(ctx, "unit_points_issued", b))


def test_350_hours_and_two_stars_move_station_to_station_then_to_another_county(fresh_ctx, tmp_path):
    one = fresh_ctx
    one.options["data_dir"] = str(tmp_path / "county-1-data")
    kind = "sqlite" if one.is_sqlite else "postgresql"
    two, two_url = second_deployment(kind, tmp_path / "county-2")
    try:
        with TestClient(create_app(one)) as api_one, TestClient(create_app(two)) as api_two:
            _story(one, two, api_one, api_two)
    finally:
        two.engine.dispose()
        if kind == "postgresql":
            drop_pg_database(two_url)


def _story(one, two, api_one, api_two):
    units = f.tree(one)
    a, b = units["station_a"], units["station_b"]
    publish(one, units["center"], dt.date(2019, 1, 1), funding="unit")
    recorder, _ = f.user(one, "unit_admin", units["institute"])
    approver, _ = f.user(one, "admin")
    _, admin_one = f.user(one, "admin")
    _, auditor_one = f.user(one, "auditor")
    _, admin_two = f.user(two, "admin")
    _exchange_keys(api_one, admin_one, api_two, admin_two)
    id_number = f.random_id_number("19850315")
    volunteer = f.volunteer(one, a, name="李春梅", registered_on=dt.date(2024, 1, 1), id_number=id_number)

    # Hop 0 — 24 days at A, 8 h a day (480 min, the per-activity cap), 2025-01-06 … 2025-01-29:
    # 24 × 480 = 11 520 min (192 h); 24 × 8 h × 10 = 1 920 points, funded by A.  192 h → 1 star.
    serve(one, recorder, approver, volunteer, a, service_days(dt.date(2025, 1, 6), 24))
    assert _units(one, a, b) == (-11520, -1920, 0, 0)

    # Hop 1 — A → B on 2025-02-10 over the API: hours stay at A, the 1 920-point liability moves to B.
    moved = api_one.post(f"/volunteers/{volunteer}/transfer", headers=h(admin_one),
                         json={"to_unit_id": b, "effective_on": "2025-02-10", "reason": "工作调动"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["points_moved"] == 1920
    assert _units(one, a, b) == (-11520, 0, 0, -1920)
    history = api_one.get(f"/volunteers/{volunteer}/memberships", headers=h(admin_one)).json()
    assert [(m["unit_id"], m["valid_from"], m["valid_to"]) for m in history["memberships"]] == [
        (a, "2024-01-01", "2025-02-10"), (b, "2025-02-10", None)]

    # A late record: served at A on 2025-02-07 (before the move), approved after it.
    # A's hours and A's funding: A −12 000 min, A −80 points; B unchanged.
    late_activity = f.activity(one, a, dt.date(2025, 2, 7))  # an activity of its own (caps sum an activity)
    f.served(one, recorder, approver, volunteer, late_activity, dt.datetime(2025, 2, 7, 8), 480)
    assert _units(one, a, b) == (-12000, -80, 0, -1920)

    # 19 days at B from 2025-02-11 (skipping 2025-03-05): 18 × 480 + 360 = 9 000 min, 1 500 points.
    b_days = service_days(dt.date(2025, 2, 11), 19)
    serve(one, recorder, approver, volunteer, b, b_days[:18])
    serve(one, recorder, approver, volunteer, b, b_days[18:], minutes=360)
    assert _units(one, a, b) == (-12000, -80, -9000, -3420)
    summary = api_one.get(f"/volunteers/{volunteer}/balances", headers=h(admin_one)).json()
    # 12 000 + 9 000 = 21 000 min = 350 h; 2 000 + 1 500 = 3 500 points; 300 h reached → 2 stars
    assert (summary["minutes_total"], summary["hours_total"], summary["points"], summary["star_level"]) == \
        (21000, "350", 3500, 2)

    # Hop 2 — to county 2 (another deployment) on 2025-03-10: a signed package.
    exported = api_one.post(f"/volunteers/{volunteer}/export", headers=h(admin_one),
                            json={"to_deployment_id": two.deployment_id, "left_on": "2025-03-10"})
    assert exported.status_code == 200, exported.text
    package = exported.json()["package"]
    peer_two = _peer_id(one, two.deployment_id)
    # Sender: the volunteer has left; hours and points went out to county 2's deployment accounts;
    # each unit's own figures are unchanged.
    assert api_one.get(f"/volunteers/{volunteer}", headers=h(admin_one)).json()["status"] == "left"
    assert (bal(one, "volunteer_minutes", volunteer), bal(one, "volunteer_points", volunteer)) == (0, 0)
    assert (bal(one, "deployment_minutes", peer_two), bal(one, "deployment_points", peer_two)) == (21000, 3500)
    assert _units(one, a, b) == (-12000, -80, -9000, -3420)

    county_two = f.tree(two)
    x = county_two["station_a"]
    # One byte altered (350 h → 350 h + 1 min in the totals) is refused, and nothing changes.
    text = api_one.get(f"/transfer-packages/{package['package']['package_id']}", headers=h(admin_one)).json()
    assert text["package"] == package
    from ledger.transfers.packages import canonical
    raw = canonical(package).decode("utf-8")
    assert raw.count('"minutes":21000') == 1
    altered = raw.replace('"minutes":21000', '"minutes":21001')
    refused = api_two.post("/transfer-packages/import", headers=h(admin_two),
                           json={"package": altered, "home_unit_id": x, "id_number": id_number})
    assert refused.status_code == 422 and refused.json()["details"]["reason"] == "bad_signature"
    assert api_two.get("/transfer-packages", headers=h(admin_two)).json() == []

    arrived = api_two.post("/transfer-packages/import", headers=h(admin_two),
                           json={"package": raw, "home_unit_id": x, "id_number": id_number,
                                 "arrived_on": "2025-03-12"})
    assert arrived.status_code == 200, arrived.text
    result = arrived.json()
    new_id = result["volunteer_id"]
    assert (result["created"], result["minutes_carried"], result["points_carried"], result["star_level"]) == \
        (True, 21000, 3500, 2)
    peer_one = _peer_id(two, one.deployment_id)
    # Receiver: 350 h and 3 500 points, two stars carried; X served none of those hours.
    there = api_two.get(f"/volunteers/{new_id}/balances", headers=h(admin_two)).json()
    assert (there["minutes_total"], there["points"], there["star_level"]) == (21000, 3500, 2)
    assert there["volunteer"]["name"] == "李春梅" and there["volunteer"]["registered_on"] == "2024-01-01"
    stars = api_two.get(f"/volunteers/{new_id}/stars", headers=h(admin_two)).json()
    assert stars[-1]["level_after"] == 2 and stars[-1]["reason"].startswith("carried from")
    assert bal(two, "unit_minutes_served", x) == 0
    assert bal(two, "deployment_minutes", peer_one) == -21000
    assert bal(two, "unit_points_issued", county_two["center"]) == -3500  # county 2 funds per county
    memberships = api_two.get(f"/volunteers/{new_id}/memberships", headers=h(admin_two)).json()
    assert [m["valid_from"] for m in memberships["memberships"]] == ["2025-03-12"]
    elsewhere = memberships["packages"][0]["memberships_elsewhere"]  # A, then B, at county 1
    assert [(m["unit_name"], m["valid_from"], m["valid_to"]) for m in elsewhere] == [
        ("东风村新时代文明实践站", "2024-01-01", "2025-02-10"), ("南岭村新时代文明实践站", "2025-02-10", "2025-03-10")]

    # A second import (another request, another key) changes nothing.
    again = api_two.post("/transfer-packages/import", headers=h(admin_two),
                         json={"package": package, "home_unit_id": x, "id_number": id_number})
    assert again.status_code == 200 and again.json()["already_imported"] is True
    after = api_two.get(f"/volunteers/{new_id}/balances", headers=h(admin_two)).json()
    assert (after["minutes_total"], after["points"], after["star_level"]) == (21000, 3500, 2)
    assert len(api_two.get("/transfer-packages", headers=h(admin_two)).json()) == 1

    # Life goes on in county 2: one more hour, still two stars.
    recorder_two, _ = f.user(two, "unit_admin", county_two["institute"])
    approver_two, _ = f.user(two, "admin")
    serve(two, recorder_two, approver_two, new_id, x, [dt.date(2025, 3, 13)], minutes=60)
    final = api_two.get(f"/volunteers/{new_id}/balances", headers=h(admin_two)).json()
    assert (final["minutes_total"], final["points"], final["star_level"]) == (21060, 3510, 2)

    keys = api_two.get("/deployment-keys", headers=h(admin_two)).json()
    assert [k["deployment_id"] for k in keys["trusted"]] == [one.deployment_id]
    for client, token in ((api_one, auditor_one), (api_two, admin_two)):
        report = client.get("/ledger/verify", headers=h(token)).json()
        assert report["ok"], report["problems"]
