"""The unit tree for pickers: the caller's scope, nested."""
from __future__ import annotations

from ledger.people import org
from ledger.people.access import SYSTEM
from tests import factories as f


def _tree(ctx, principal):
    with ctx.uow() as uow:
        return org.unit_tree(uow.session, principal)


def _shape(node):
    return (node["name"], [_shape(child) for child in node["children"]])


def test_an_institute_admin_sees_the_institute_and_its_stations_nested(ctx):
    units = f.tree(ctx)
    admin, _ = f.user(ctx, "unit_admin", units["institute"])
    roots = _tree(ctx, admin)
    assert [_shape(root) for root in roots] == [
        ("城关镇新时代文明实践所", [("东风村新时代文明实践站", []), ("南岭村新时代文明实践站", [])])]
    assert roots[0]["kind_name"] == "所" and roots[0]["children"][0]["kind_name"] == "站"


def test_a_station_admin_sees_only_the_station(ctx):
    units = f.tree(ctx)
    admin, _ = f.user(ctx, "unit_admin", units["station_b"])
    assert [_shape(root) for root in _tree(ctx, admin)] == [("南岭村新时代文明实践站", [])]


def test_the_county_admin_sees_each_center_as_a_root(ctx):
    units = f.tree(ctx)
    roots = _tree(ctx, SYSTEM)
    ours = [root for root in roots if root["id"] == units["center"]]
    assert len(ours) == 1 and all(root["parent_id"] is None for root in roots)
    assert [child["id"] for child in ours[0]["children"]] == [units["institute"]]


def test_a_volunteer_gets_no_units(ctx):
    units = f.tree(ctx)
    volunteer = f.volunteer(ctx, units["station_a"])
    principal, _ = f.user(ctx, "volunteer", volunteer_id=volunteer)
    assert _tree(ctx, principal) == []
