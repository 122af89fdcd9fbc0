"""Certificates (志愿服务证明): only posted, unreversed service; registered; verifiable by anyone;
an altered number or code is refused; the PDF carries Chinese text, the figures and a QR."""
from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.service import records as service_records
from tests.browser import ARTIFACTS
from tests.selfservice_support import client_at, h, new_key, sign_in, story


@pytest.fixture
def s(ctx):
    return story(ctx)


@pytest.fixture
def api(ctx):
    with client_at(ctx) as client:
        yield client


def _issue(api, token, volunteer_id, date_from, date_to):
    return api.post(f"/selfservice/volunteers/{volunteer_id}/certificates", headers=h(token, new_key()),
                    json={"date_from": date_from, "date_to": date_to})


def _verify(api, number, code):
    return api.get("/selfservice/verify", params={"number": number, "code": code}).json()


def test_a_certificate_counts_posted_unreversed_service_and_verifies(api, ctx, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    year = s.last_year
    first = _issue(api, token, s.volunteer_id, f"{year}-01-01", f"{year}-12-31")
    assert first.status_code == 201, first.text
    cert = first.json()
    # 150 + 120 min = 4.5 h over two services
    assert (cert["minutes"], cert["hours"], cert["services"]) == (270, "4.5", 2)
    checked = _verify(api, cert["number"], cert["verification_code"])
    assert checked["genuine"] is True
    assert checked["certificate"] == {"number": cert["number"], "issued_on": ctx.today().isoformat(),
                                      "name": "张**", "volunteer_number": s.number,
                                      "period": {"from": f"{year}-01-01", "to": f"{year}-12-31"},
                                      "hours": "4.5", "minutes": 270, "services": 2,
                                      "issuer": "东风村新时代文明实践站"}
    assert "id_masked" not in str(checked) and "张三丰" not in str(checked)
    # the second record is reversed: a new certificate counts only the first (150 min = 2.5 h)
    with ctx.uow() as uow:
        service_records.reverse_record(uow.session, s.approver, s.record_ids[1], "录入错误", ctx.today())
        uow.commit()
    second = _issue(api, token, s.volunteer_id, f"{year}-01-01", f"{year}-12-31").json()
    assert (second["minutes"], second["hours"], second["services"]) == (150, "2.5", 1)
    listed = api.get(f"/selfservice/volunteers/{s.volunteer_id}/certificates", headers=h(token)).json()["items"]
    assert [c["number"] for c in listed] == [second["number"], cert["number"]]
    assert all(c["issued_by"] == f"volunteer:{s.number}" for c in listed)


def test_an_altered_code_or_number_is_refused_with_a_clear_message(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    cert = _issue(api, token, s.volunteer_id, f"{s.last_year}-01-01", f"{s.last_year}-12-31").json()
    code, number = cert["verification_code"], cert["number"]
    relaxed = code.replace("-", " ").lower()  # as typed from paper
    assert _verify(api, number, relaxed)["genuine"] is True
    altered_code = code[:-1] + ("0" if code[-1] != "0" else "1")
    wrong = _verify(api, number, altered_code)
    assert (wrong["genuine"], wrong["reason"]) == (False, "altered") and "certificate" not in wrong
    altered_number = number[:-1] + ("0" if number[-1] != "0" else "1")
    unknown = _verify(api, altered_number, code)
    assert (unknown["genuine"], unknown["reason"]) == (False, "unknown") and "查无此证明编号" in unknown["message"]


def test_a_period_without_service_gives_a_clear_message_and_no_certificate(api, s):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    empty = _issue(api, token, s.volunteer_id, f"{s.last_year}-08-01", f"{s.last_year}-08-31")
    assert empty.status_code == 422 and empty.json()["field"] == "period"
    assert "没有已入账的志愿服务记录" in empty.json()["message"]
    backwards = _issue(api, token, s.volunteer_id, f"{s.last_year}-08-31", f"{s.last_year}-08-01")
    assert backwards.status_code == 422 and backwards.json()["field"] == "date_to"
    assert api.get(f"/selfservice/volunteers/{s.volunteer_id}/certificates", headers=h(token)).json()["items"] == []


def test_a_station_admin_issues_for_volunteers_in_scope_only(api, s):
    year = s.last_year
    made = _issue(api, s.station_admin, s.volunteer_id, f"{year}-01-01", f"{year}-12-31")
    assert made.status_code == 201
    assert _issue(api, s.other_station_admin, s.volunteer_id, f"{year}-01-01", f"{year}-12-31").status_code == 404
    assert api.get(f"/selfservice/certificates/{made.json()['number']}.pdf",
                   headers=h(s.other_station_admin)).status_code == 404


def test_the_registry_is_append_only(api, ctx, s):
    _issue(api, s.station_admin, s.volunteer_id, f"{s.last_year}-01-01", f"{s.last_year}-12-31")
    for statement in ("UPDATE certificates SET minutes = minutes + 60", "DELETE FROM certificates"):
        with pytest.raises(DBAPIError):
            with ctx.engine.begin() as conn:
                conn.execute(text(statement))


def test_public_verification_is_rate_limited(ctx, s):
    ctx.options["rate_limit_per_minute"] = 3
    with client_at(ctx) as api:
        answers = [api.get("/selfservice/verify", params={"number": "ZM1", "code": "X"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] in ("too_many_attempts", "rate_limited") and answers[-1].headers["Retry-After"]


def test_the_pdf_shows_chinese_text_figures_and_is_not_blank(api, s, tmp_path):
    token = sign_in(api, s.station_admin, s.volunteer_id, s.number)
    cert = _issue(api, token, s.volunteer_id, f"{s.last_year}-01-01", f"{s.last_year}-12-31").json()
    other = sign_in(api, s.station_admin, s.other_volunteer_id, s.other_number)
    assert api.get(f"/selfservice/certificates/{cert['number']}.pdf", headers=h(other)).status_code == 404
    response = api.get(f"/selfservice/certificates/{cert['number']}.pdf", headers=h(token))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(response.content)
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        pytest.fail("poppler-utils is missing (scripts/setup-system.sh installs it)")
    words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    for expected in ("志愿服务证明", "张三丰", s.number, "4.5", "广场舞教学", "垃圾分类宣传", cert["number"],
                     cert["verification_code"], "东风村新时代文明实践站", "/verify?no="):
        assert expected in words, expected
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True)
    png = next(tmp_path.glob("page*.png"))
    image = Image.open(png).convert("L")
    dark = image.histogram()[:128]
    dark = sum(dark)
    assert dark > image.width * image.height // 200, "the rendered page is (nearly) blank"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, ARTIFACTS / "certificate-page1.png")
