"""目标考核 in the console: any unit from the tree and any period; a change of unit redraws the
chart and the export link; a unit without data says so; a bad period next to its field."""
from __future__ import annotations

from tests import factories as f, test_targets as tt
from tests.console_support import client_sign_in, console_client, staff  # noqa: F401


def test_the_report_of_a_unit_and_a_period_and_of_another_unit(console_client, ctx):
    units, _, _ = tt.build(ctx)
    admin, _ = staff(ctx, "unit_admin", units["institute"])
    client_sign_in(console_client, admin.username)
    institute = console_client.get(f"/console/targets?unit_id={units['institute']}&period=2025-Q2")
    assert institute.status_code == 200 and 'id="chart"' in institute.text and "文艺支队" in institute.text
    assert f"export.xlsx?unit_id={units['institute']}&period=2025-Q2" in institute.text
    station = console_client.get(f"/console/targets?unit_id={units['station_b']}&period=2025-Q2")
    assert f"export.xlsx?unit_id={units['station_b']}&period=2025-Q2" in station.text
    assert f"unit_id={units['institute']}&period" not in station.text  # the old unit's link is gone
    workbook = console_client.get(f"/console/targets/export.xlsx?unit_id={units['station_b']}&period=2025-Q2")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"


def test_a_unit_without_data_says_so_and_a_bad_period_is_refused_next_to_it(console_client, ctx):
    units = f.tree(ctx)
    admin, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, admin.username)
    empty = console_client.get(f"/console/targets?unit_id={units['station_a']}&period=2025-Q2")
    assert 'id="no-data"' in empty.text and 'id="chart"' not in empty.text
    bad = console_client.get(f"/console/targets?unit_id={units['station_a']}&period=下季度")
    assert bad.status_code == 422 and 'id="e-period"' in bad.text
    other = console_client.get(f"/console/targets?unit_id={units['station_b']}&period=2025-Q2")
    assert other.status_code == 404
