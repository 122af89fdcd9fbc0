"""Personal data: ID-card (身份证号) and phone numbers never appear raw — not in responses, error
messages, exports, the server's logs, the command line's output, nor the database file.

A full scenario runs against a real `ledger serve` on a SQLite file (its stdout and stderr
captured): registration (good and bad), lookups, a desk finding a volunteer by ID number,
imports (good and bad rows), certificates (PDF text), ranking exports (CSV, XLSX), a transfer
package, self-service sign-in, the audit trail; then the CLI import in-process (caplog and
captured output).  Everything collected is searched for each raw number and for the part
that the mask hides; only the masked forms may appear.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
import shutil
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest

from api.cli import main as cli_main
from ledger.people.idcard import mask_id_number, mask_phone
from ledger.store.db import make_engine
from ledger.store.migrate import upgrade
from ledger.store.uow import Context
from tests import factories as f
from tests.authz_world import ed25519_public_key
from tests.conftest import SECRET
from tests.faults.server import LedgerServer, auth

HEADER = "序号,姓名,身份证号,联系电话,所属站点,活动名称,服务类别,服务日期,开始时间,结束时间,服务时长,确认人"
STATION = "东风村新时代文明实践站"


def person() -> tuple[str, str]:
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(365 * 50))
    return f.random_id_number(birth.strftime("%Y%m%d")), "13" + f"{secrets.randbelow(10**9):09d}"


def secrets_of(id_number: str, phone: str) -> list[str]:
    """The raw numbers and the parts the masks hide (any of these showing is a leak)."""
    return [id_number, id_number[3:14], id_number[:17], phone, phone[3:]]


class Collector:
    """Every response body, header and export text the scenario saw."""

    def __init__(self):
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def response(self, response: httpx.Response) -> httpx.Response:
        where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
        content_type = response.headers.get("content-type", "")
        self.add(where + " headers", str(dict(response.headers)))
        if "pdf" in content_type:
            self.add(where, pdf_text(response.content))
        elif "spreadsheetml" in content_type or response.request.url.path.endswith(".xlsx"):
            self.add(where, xlsx_text(response.content))
        elif "image" in content_type:
            pass  # charts carry no text layer
        else:
            self.add(where, response.text)
        return response


def pdf_text(content: bytes) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "pdftotext (poppler-utils) is needed to read certificates; scripts/setup-system.sh installs it"
    done = subprocess.run([tool, "-", "-"], input=content, capture_output=True, check=True)
    return done.stdout.decode("utf-8", errors="replace") + content.decode("latin-1")


def xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return "\n".join(archive.read(name).decode("utf-8", errors="replace") for name in archive.namelist())


def taizhang(rows: list[tuple[str, str, str, str]]) -> bytes:
    """(name, id_number, phone, start 'YYYY-MM-DD HH:MM') rows of one-hour services."""
    lines = [HEADER]
    for n, (name, id_number, phone, start) in enumerate(rows, 1):
        day, time = start.split()
        end = f"{int(time[:2]) + 1:02d}{time[2:]}"
        lines.append(f"{n},{name},{id_number},{phone},{STATION},垃圾分类宣传,卫生环保,{day},{time},{end},1小时,王站长")
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'pii.sqlite3'}"
    upgrade(url)
    return url


def test_personal_numbers_never_appear_raw(sqlite_url, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    engine = make_engine(sqlite_url)
    ctx = Context(engine=engine, secret_key=SECRET, deployment_id="test-county")
    units = f.tree(ctx)
    _, admin = f.user(ctx, "admin")
    _, station_admin = f.user(ctx, "unit_admin", units["station_a"])
    _, institute_admin = f.user(ctx, "unit_admin", units["institute"])
    people = [person() for _ in range(6)]
    leaks = [s for id_number, phone in people for s in secrets_of(id_number, phone)]
    seen = Collector()
    server = LedgerServer(sqlite_url, tmp_path / "server").start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            def call(method, path, token=admin, write=False, **kwargs):
                key = secrets.token_hex(8) if write else None
                return seen.response(http.request(method, path, headers=auth(token, key), **kwargs))

            # registration: good, duplicate, bad check digit, bad phone
            (id0, phone0), (id1, phone1) = people[0], people[1]
            made = call("POST", "/volunteers", station_admin, True, json={
                "name": "王小明", "home_unit_id": units["station_a"], "id_number": id0, "phone": phone0})
            assert made.status_code == 201, made.text
            assert made.json()["id_masked"] == mask_id_number(id0) and made.json()["phone_masked"] == mask_phone(phone0)
            volunteer = made.json()
            assert call("POST", "/volunteers", station_admin, True, json={
                "name": "王小明", "home_unit_id": units["station_a"], "id_number": id0}).status_code == 409
            wrong_check = id1[:17] + ("0" if id1[17] != "0" else "1")
            bad = call("POST", "/volunteers", station_admin, True, json={
                "name": "李四", "home_unit_id": units["station_a"], "id_number": wrong_check})
            assert bad.status_code == 422 and bad.json()["field"] == "id_number"
            bad = call("POST", "/volunteers", station_admin, True, json={
                "name": "李四", "home_unit_id": units["station_a"], "id_number": id1, "phone": phone1[:-1]})
            assert bad.status_code == 422 and bad.json()["field"] == "phone"

            # lookups, a desk finding the volunteer by ID number
            for path in ("/volunteers", f"/volunteers/{volunteer['id']}", f"/volunteers/{volunteer['id']}/balances",
                         f"/volunteers?number={volunteer['number']}"):
                assert call("GET", path).status_code == 200
            desk = call("POST", "/desks", admin, True, json={"unit_id": units["station_a"], "code": f.ref("D"),
                                                              "name": "爱心超市"}).json()
            found = call("POST", f"/desks/{desk['id']}/find-volunteer", admin, json={"id_number": id0})
            assert found.status_code == 200, found.text
            assert call("POST", f"/desks/{desk['id']}/find-volunteer", admin,
                        json={"id_number": people[5][0]}).status_code == 404

            # imports: a good file (posted), then one whose rows are refused
            good = taizhang([("张三", people[2][0], people[2][1], "2025-05-10 09:00"),
                             ("李梅", people[3][0], people[3][1], "2025-05-10 14:00")])
            imported = call("POST", "/imports", station_admin, True,
                            files={"file": ("台账.csv", good, "text/csv")})
            assert imported.status_code == 201, imported.text
            assert call("POST", f"/imports/{imported.json()['batch']}/approve", institute_admin, True).status_code == 200
            refused = taizhang([("赵六", people[4][0][:17] + ("X" if people[4][0][17] != "X" else "0"),
                                 people[4][1], "2025-06-10 09:00"),
                                ("孙七", people[5][0], people[5][1][:-2], "2025-06-11 09:00")])
            rejected = call("POST", "/imports", station_admin, True, files={"file": ("台账.csv", refused, "text/csv")})
            assert rejected.status_code == 422 and len(rejected.json()["details"]["rows"]) == 2, rejected.text
            renamed = taizhang([("另一个名字", people[2][0], people[2][1], "2025-06-10 09:00")])
            rejected = call("POST", "/imports", station_admin, True, files={"file": ("台账.csv", renamed, "text/csv")})
            assert rejected.status_code == 422 and mask_id_number(people[2][0]) in rejected.text, rejected.text

            # certificates, ranking exports, a transfer package, self-service
            imported_volunteer = call("GET", "/volunteers?limit=200").json()
            someone = next(v for v in imported_volunteer if v["id_masked"] == mask_id_number(people[2][0]))
            certificate = call("POST", f"/selfservice/volunteers/{someone['id']}/certificates", admin, True,
                               json={"date_from": "2025-01-01", "date_to": "2025-12-31"})
            assert certificate.status_code == 201, certificate.text
            assert call("GET", f"/selfservice/certificates/{certificate.json()['number']}.pdf").status_code == 200
            definition = call("POST", "/rankings/definitions", admin, True, json={
                "code": f.ref("R"), "name": "年度之星", "unit_id": units["center"], "period_kind": "year"}).json()
            run = call("POST", "/rankings/runs", admin, True, json={"definition_id": definition["id"],
                                                                   "period": "2025"}).json()
            for suffix in ("", "/export.csv", "/export.xlsx"):
                assert call("GET", f"/rankings/runs/{run['id']}{suffix}").status_code == 200
            peer = f.ref("peer")
            call("POST", "/deployment-keys", admin, True, json={"deployment_id": peer,
                                                                "public_key": ed25519_public_key()})
            exported = call("POST", f"/volunteers/{someone['id']}/export", admin, True,
                            json={"to_deployment_id": peer})
            assert exported.status_code == 200, exported.text
            code = call("POST", f"/selfservice/volunteers/{volunteer['id']}/sign-in-codes", admin,
                        json={"kind": "code"}).json()
            signed = call("POST", "/selfservice/sign-in", None, json={"number": volunteer["number"],
                                                                      "code": code["code"]})
            own_token = signed.json()["token"]
            assert call("GET", f"/selfservice/volunteers/{volunteer['id']}/summary", own_token).status_code == 200
            assert call("GET", "/audit").status_code == 200
    finally:
        server.stop()

    # the command line: a refused import names the rows, masked
    bad_file = tmp_path / "台账-错误.csv"
    bad_file.write_bytes(refused)
    with ctx.uow() as uow:
        from sqlalchemy import select

        from ledger.people.tables import User
        username = uow.session.execute(select(User.username).where(User.role == "unit_admin",
                                                                   User.unit_id == units["station_a"])).scalar()
    assert cli_main(["--database-url", sqlite_url, "import", str(bad_file), "--as-user", username]) == 2
    out = capsys.readouterr()
    seen.add("ledger import (stdout+stderr)", out.out + out.err)
    seen.add("caplog", caplog.text)
    seen.add("server log", server.log())
    engine.dispose()
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            seen.add(f"database file {path.name}", path.read_bytes().decode("latin-1") +
                     path.read_bytes().decode("utf-8", errors="ignore"))

    found = [(where, leak) for where, text in seen.texts for leak in leaks if leak in text]
    assert not found, f"raw personal numbers found: {found[:10]}"
    everything = "\n".join(text for _, text in seen.texts)
    assert mask_id_number(id0) in everything and mask_phone(phone0) in everything  # the masks do show
    assert "volunteer.register" in everything  # the audit trail was read
    print(f"pii: {len(seen.texts)} texts searched ({len(everything) // 1024} KiB) for {len(leaks)} "
          f"raw forms of {len(people)} people: none found")
