"""台账归档 and 审计 in the console: the archive's totals and its downloads; verify's verdict in
Chinese; the audit log with Chinese action names, for auditors and admins only."""
from __future__ import annotations

from tests import test_archive as ta
from tests.console_support import client_sign_in, console_client, form_csrf, staff  # noqa: F401


def test_a_station_admin_downloads_the_half_year(console_client, ctx):
    units = ta.build(ctx)
    admin, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, admin.username)
    shown = console_client.get(f"/console/archive?unit_id={units['station_a']}&period=2025-H1")
    assert shown.status_code == 200 and "2 人次，2 名志愿者" in shown.text and "待审核 1 条" in shown.text
    workbook = console_client.get(f"/console/archive/download.xlsx?unit_id={units['station_a']}&period=2025-H1")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert "filename*=UTF-8''" in workbook.headers["content-disposition"]
    pdf = console_client.get(f"/console/archive/download.pdf?unit_id={units['station_a']}&period=2025-H1")
    assert pdf.content.startswith(b"%PDF-")
    other = console_client.get(f"/console/archive?unit_id={units['station_b']}&period=2025-H1")
    assert other.status_code == 404
    bad = console_client.get(f"/console/archive?unit_id={units['station_a']}&period=2025-Q1")
    assert bad.status_code == 422 and 'id="e-period"' in bad.text


def test_an_auditor_runs_verify_and_reads_the_log_in_chinese(console_client, ctx):
    ta.build(ctx)
    auditor, _ = staff(ctx, "auditor")
    client_sign_in(console_client, auditor.username)
    page = console_client.get("/console/audit")
    assert page.status_code == 200 and "冲正服务记录" in page.text and "原因：重复录入" in page.text
    verdict = console_client.post("/console/audit/verify", data={"csrf_token": form_csrf(page.text)})
    assert verdict.status_code == 200 and "核验通过" in verdict.text
    filtered = console_client.get("/console/audit?action=record.reverse")
    assert "冲正服务记录" in filtered.text and "新建单位" not in filtered.text.split("操作日志")[1].split("</select>")[1]


def test_a_station_admin_has_no_audit_page(console_client, ctx):
    units = ta.f.tree(ctx)
    admin, _ = staff(ctx, "unit_admin", units["station_a"])
    client_sign_in(console_client, admin.username)
    assert console_client.get("/console/audit").status_code == 403
