"""The authorisation matrix, second half: ids in request BODIES are checked against scope too.

For every write endpoint, each id field of its body (found by walking the body's model:
`*_id`, `*_ids`, nested `items[].item_id`) is swapped, one at a time, for an object of
station B (tests/authz_world.py `build_elsewhere`) in a request that is otherwise the
matrix's allowed one (tests/test_authz_matrix.py).  Each scoped role the matrix allows
(ua_in, desk, vol_own) must then get 404 naming that field: the object is outside their
scope, and they never learn whether it exists.  A new id field in a body fails
`test_every_body_id_is_in_the_table` until someone writes down what it names.
"""
from __future__ import annotations

import copy
import typing

from pydantic import BaseModel

from api.middleware import iter_api_routes
from tests.authz_world import ROLES, build_world
from tests.test_authz_matrix import TABLE

SCOPED_ROLES = ("ua_in", "desk", "vol_own")

# (method, path) -> {dotted field: what object of station B replaces it}
BODY_IDS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/users"): {"unit_id": "unit", "volunteer_id": "volunteer", "desk_id": "desk"},
    ("POST", "/users/{user_id}/tokens/revoke"): {"token_id": "token"},
    ("POST", "/units"): {"parent_id": "unit"},
    ("POST", "/teams"): {"unit_id": "unit", "parent_id": "team"},
    ("POST", "/volunteers"): {"home_unit_id": "unit", "team_ids": "team"},
    ("POST", "/volunteers/{volunteer_id}/transfer"): {"to_unit_id": "unit", "join_team_ids": "team",
                                                      "leave_team_ids": "team"},
    ("POST", "/activities"): {"unit_id": "unit", "team_id": "team"},
    ("POST", "/service-records"): {"volunteer_id": "volunteer", "activity_id": "activity"},
    ("POST", "/policies/what-if"): {"unit_id": "unit"},
    ("POST", "/desks"): {"unit_id": "unit"},
    ("POST", "/desks/{desk_id}/stock/receive"): {"item_id": "item"},
    ("POST", "/desks/{desk_id}/stock/count"): {"item_id": "item"},
    ("POST", "/desks/{desk_id}/redemptions"): {"volunteer_id": "volunteer", "items.0.item_id": "item"},
    ("POST", "/desks/{desk_id}/reservations"): {"volunteer_id": "volunteer", "items.0.item_id": "item"},
    ("POST", "/rankings/definitions"): {"unit_id": "unit"},
    ("POST", "/rankings/runs"): {"definition_id": "definition"},
    ("POST", "/rankings/runs/{run_id}/supersede"): {"by_run_id": "run"},
    ("POST", "/rankings/notices/{notice_id}/supersede"): {"by_run_id": "run"},
    ("POST", "/targets/reports"): {"unit_id": "unit"},
    ("POST", "/orders"): {"unit_id": "unit"},
    ("POST", "/activities/{activity_id}/recruitment"): {"team_ids": "team"},
}

# id fields no scoped role can reach, with the reason (checked by the same functions all the same)
NOT_SCOPED = {
    ("POST", "/volunteers/{volunteer_id}/export", "to_deployment_id"): "a peer deployment: county-level, not a unit",
    ("POST", "/deployment-keys", "deployment_id"): "a peer deployment, trusted by admins only",
    ("POST", "/transfer-packages/import", "home_unit_id"): "resolved by require_unit after the package's "
                                                           "signature, which the matrix cannot forge",
    ("POST", "/policies", "unit_id"): "published by admins and center admins only (no narrower scope)",
    ("POST", "/policies/adjustment-runs", "unit_id"): "run by admins and center admins only",
    ("POST", "/orders/{order_id}/dispatch", "unit_id"): "dispatched by the center's admins only",
    ("POST", "/orders/{order_id}/dispatch", "team_id"): "dispatched by the center's admins only",
    ("POST", "/public/orders", "unit_id"): "a public form: a resident orders from any unit",
    ("POST", "/activities/{activity_id}/attendance", "volunteer_id"): "a volunteer of any unit of the county may "
                                                                      "serve there (checkin.same_county)",
    ("POST", "/public/applications", "unit_id"): "a public form: anyone applies to join any unit",
}


def _model_id_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, info in model.model_fields.items():
        if name.endswith("_id") or name.endswith("_ids"):
            found.append(prefix + name)
        for inner in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found.extend(_model_id_fields(inner, f"{prefix}{name}.0."))
    return found


def body_id_fields(app) -> set[tuple[str, str, str]]:
    """(method, path, dotted field) of every id field of every write body."""
    found = set()
    for path, route in iter_api_routes(app.routes):
        for method in route.methods - {"GET", "HEAD"}:
            for param in route.dependant.body_params:
                annotation = param.field_info.annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                    found |= {(method, path, name) for name in _model_id_fields(annotation)}
    return found


def _swap(body: dict, dotted: str, value: int) -> dict:
    body = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = [value] if last.endswith("_ids") else value
    return body


def test_every_body_id_is_in_the_table(client):
    listed = {(m, p, name) for (m, p), fields in BODY_IDS.items() for name in fields} | set(NOT_SCOPED)
    missing = sorted(body_id_fields(client.app) - listed)
    stale = sorted(listed - body_id_fields(client.app))
    assert not missing, f"body id fields without a row (write down what object they name): {missing}"
    assert not stale, f"rows for body fields that no longer exist: {stale}"


def test_every_body_id_out_of_scope_is_not_found(client, ctx):
    world = build_world(client, ctx)
    wrong, cells = [], 0
    for (method, path), fields in BODY_IDS.items():
        build, expected = TABLE[(method, path)]
        roles = [role for role, status in zip(ROLES, expected) if role in SCOPED_ROLES and status < 300]
        assert roles, f"{method} {path}: no scoped role may call it; move it to NOT_SCOPED with the reason"
        for role in roles:
            for field, kind in fields.items():
                url, kwargs = build(world, role)
                kwargs = {**kwargs, "json": _swap(kwargs["json"], field, world.elsewhere[kind])}
                response = client.request(method, url, headers=world.headers(role, write=True), **kwargs)
                cells += 1
                name = field.rsplit(".", 1)[-1]
                if response.status_code != 404 or name not in (response.json().get("field") or ""):
                    wrong.append(f"{method} {path} as {role} with {field} of station B: expected 404 on "
                                 f"{name}, got {response.status_code} {response.text[:200]}")
    assert cells >= 30
    assert not wrong, "\n".join(wrong)
