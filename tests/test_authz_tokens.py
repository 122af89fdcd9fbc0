"""Tokens and users: replays belong to their principal, tokens expire and are revoked at once,
nobody makes a user with more reach than their own, the two-person rule holds, no ID oracle."""
from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient

from api.app import create_app
from api.cli import main as cli
from ledger.store.uow import Context
from tests import factories as f
from tests.authz_world import build_world, unique_id_number


def h(token: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _user(client, token, **body) -> dict:
    response = client.post("/users", json={"username": f.ref("u"), **body}, headers=h(token, str(uuid.uuid4())))
    return response


# --- 4: an idempotency replay is the same principal's ----------------------------------------


def test_another_principal_with_the_same_key_gets_409_never_the_stored_result(client, ctx):
    units = f.tree(ctx)
    _, first = f.user(ctx, "unit_admin", units["station_a"])
    _, second = f.user(ctx, "unit_admin", units["institute"])
    key = str(uuid.uuid4())
    body = {"name": "王五", "home_unit_id": units["station_a"], "id_number": unique_id_number()}
    made = client.post("/volunteers", json=body, headers=h(first, key))
    assert made.status_code == 201
    again = client.post("/volunteers", json=body, headers=h(first, key))
    assert again.status_code == 201 and again.json() == made.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    stolen = client.post("/volunteers", json=body, headers=h(second, key))
    assert stolen.status_code == 409, stolen.text
    assert stolen.json()["code"] == "idempotency_key_reused" and "其他用户" in stolen.json()["message"]
    assert made.json()["number"] not in stolen.text and "Idempotent-Replayed" not in stolen.headers


def test_a_replay_needs_the_principal_to_pass_authentication_again(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    made = _user(client, admin, role="unit_admin", unit_id=units["station_a"]).json()
    token = client.post(f"/users/{made['id']}/tokens", headers=h(admin)).json()["token"]
    key = str(uuid.uuid4())
    body = {"name": "赵六", "home_unit_id": units["station_a"]}
    assert client.post("/volunteers", json=body, headers=h(token, key)).status_code == 201
    assert client.post(f"/users/{made['id']}/disable", headers=h(admin, str(uuid.uuid4()))).status_code == 200
    replay = client.post("/volunteers", json=body, headers=h(token, key))
    assert replay.status_code == 401 and "Idempotent-Replayed" not in replay.headers


# --- 7: tokens expire; admins list, revoke and disable within their scope ---------------------


def test_admin_issued_tokens_expire_after_the_setting(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    made = _user(client, admin, role="unit_admin", unit_id=units["station_a"]).json()
    issued = client.post(f"/users/{made['id']}/tokens", headers=h(admin)).json()
    expires = dt.datetime.fromisoformat(issued["expires_at"])
    assert dt.timedelta(days=29) < expires - ctx.now() <= dt.timedelta(days=30)
    assert client.get("/me", headers=h(issued["token"])).status_code == 200
    later = Context(engine=ctx.engine, secret_key=ctx.secret_key, options=ctx.options,
                    clock=lambda: ctx.now() + dt.timedelta(days=31))
    with TestClient(create_app(later)) as late_client:
        expired = late_client.get("/me", headers=h(issued["token"]))
    assert expired.status_code == 401 and "过期" in expired.json()["message"]


def test_a_revoked_token_answers_401_at_once_in_every_process(client, ctx):
    units = f.tree(ctx)
    _, admin = f.user(ctx, "unit_admin", units["institute"])
    made = _user(client, admin, role="unit_admin", unit_id=units["station_a"]).json()
    keep = client.post(f"/users/{made['id']}/tokens", headers=h(admin)).json()["token"]
    drop = client.post(f"/users/{made['id']}/tokens", headers=h(admin)).json()["token"]
    with TestClient(create_app(ctx)) as other_process:  # a second app: its own state, the same database
        assert other_process.get("/me", headers=h(drop)).status_code == 200
        tokens = client.get(f"/users/{made['id']}/tokens", headers=h(admin)).json()
        assert len(tokens) == 2 and all("token" not in t and "hash" not in str(t) for t in tokens)
        newest = tokens[0]["id"]
        revoked = client.post(f"/users/{made['id']}/tokens/revoke", json={"token_id": newest},
                              headers=h(admin, str(uuid.uuid4())))
        assert revoked.json()["revoked"] == 1
        assert other_process.get("/me", headers=h(drop)).status_code == 401
        assert other_process.get("/me", headers=h(keep)).status_code == 200
        client.post(f"/users/{made['id']}/disable", headers=h(admin, str(uuid.uuid4())))
        assert other_process.get("/me", headers=h(keep)).status_code == 401
        client.post(f"/users/{made['id']}/enable", headers=h(admin, str(uuid.uuid4())))
        assert other_process.get("/me", headers=h(keep)).status_code == 200
    listed = {u["id"] for u in client.get("/users", headers=h(admin)).json()}
    assert made["id"] in listed


def test_a_unit_admin_cannot_manage_users_outside_their_reach(client, ctx):
    units = f.tree(ctx)
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    peer, _ = f.user(ctx, "unit_admin", units["station_a"])  # made by the system, not below station_admin
    for path in (f"/users/{peer.user_id}/tokens", f"/users/{peer.user_id}/disable",
                 f"/users/{peer.user_id}/tokens/revoke"):
        response = client.post(path, json={}, headers=h(station_admin, str(uuid.uuid4())))
        assert response.status_code == 404, (path, response.text)
    assert peer.user_id not in {u["id"] for u in client.get("/users", headers=h(station_admin)).json()}


def test_the_command_line_lists_revokes_and_disables(client, ctx, capsys, monkeypatch):
    units = f.tree(ctx)
    user, token = f.user(ctx, "unit_admin", units["station_a"])
    monkeypatch.setenv("LEDGER_DATABASE_URL", ctx.engine.url.render_as_string(hide_password=False))
    assert cli(["users", "tokens", user.username]) == 0
    assert cli(["users", "revoke", user.username]) == 0
    assert '"revoked": 1' in capsys.readouterr().out
    assert client.get("/me", headers=h(token)).status_code == 401
    assert cli(["users", "disable", user.username]) == 0
    assert cli(["users", "list"]) == 0 and user.username in capsys.readouterr().out


# --- 8: reach and the two-person rule --------------------------------------------------------


def test_only_an_admin_of_a_unit_above_makes_admins_of_a_unit(client, ctx):
    units = f.tree(ctx)
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    _, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    own = _user(client, station_admin, role="unit_admin", unit_id=units["station_a"])
    assert own.status_code == 403 and own.json()["field"] == "unit_id"
    for role in ("admin", "auditor"):
        assert _user(client, institute_admin, role=role).status_code == 403
    above = _user(client, station_admin, role="unit_admin", unit_id=units["institute"])
    assert above.status_code == 404
    assert _user(client, institute_admin, role="unit_admin", unit_id=units["station_a"]).status_code == 201


def test_an_approver_the_submitter_made_cannot_approve_their_records(client, ctx):
    units = f.tree(ctx)
    _, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    _, other_institute_admin = f.user(ctx, "unit_admin", units["institute"])
    made = _user(client, institute_admin, role="unit_admin", unit_id=units["station_a"]).json()
    puppet = client.post(f"/users/{made['id']}/tokens", headers=h(institute_admin)).json()["token"]
    volunteer = f.volunteer(ctx, units["station_a"])
    activity = f.activity(ctx, units["station_a"], dt.date(2025, 6, 10))
    record = client.post("/service-records", json={
        "volunteer_id": volunteer, "activity_id": activity, "started_at": "2025-06-10T09:00",
        "ended_at": "2025-06-10T10:00"}, headers=h(institute_admin, str(uuid.uuid4()))).json()
    refused = client.post(f"/service-records/{record['id']}/approve", headers=h(puppet, str(uuid.uuid4())))
    assert refused.status_code == 403 and refused.json()["field"] == "approved_by", refused.text
    assert "创建" in refused.json()["message"]
    approved = client.post(f"/service-records/{record['id']}/approve",
                           headers=h(other_institute_admin, str(uuid.uuid4())))
    assert approved.status_code == 200 and approved.json()["status"] == "posted"


def test_an_import_is_not_approved_by_a_user_the_importer_made(client, ctx):
    world = build_world(client, ctx)
    made = world.admin("POST", "/users", role="recorder", json={
        "username": f.ref("u"), "role": "unit_admin", "unit_id": world.ids["station_a"]})
    puppet = world.admin("POST", f"/users/{made['id']}/tokens", role="recorder")["token"]
    batch = world.batch()  # imported by the recorder
    refused = client.post(f"/imports/{batch}/approve", headers=h(puppet, str(uuid.uuid4())))
    assert refused.status_code == 403 and refused.json()["field"] == "approved_by", refused.text


# --- 9: no ID-number oracle at the desk ------------------------------------------------------


def test_the_desk_answers_alike_for_unknown_and_elsewhere_volunteers(client, ctx):
    world = build_world(client, ctx)
    elsewhere_number = unique_id_number()
    f.volunteer(ctx, world.ids["station_b"], id_number=elsewhere_number)
    elsewhere_volunteer = world.admin("GET", f"/volunteers/{world.elsewhere['volunteer']}")["number"]
    answers = []
    for body in ({"id_number": elsewhere_number}, {"id_number": unique_id_number()},
                 {"number": elsewhere_volunteer}, {"number": "V000000000000"}):
        response = client.post(f"/desks/{world.ids['desk']}/find-volunteer", json=body,
                               headers=world.headers("desk"))
        answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1] and answers[0][0] == 404, answers
    assert answers[2] == answers[3] and answers[2][0] == 404, answers
