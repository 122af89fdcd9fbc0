"""The operators' command line for transfers: keys, transfer, memberships, export and import."""
from __future__ import annotations

import datetime as dt
import json

from api.cli import main
from ledger.store.db import make_engine
from tests import factories as f
from tests.conftest import fresh_database
from tests.test_transfers_support import bal, deployment_over


def run(capsys, monkeypatch, deployment_id: str, data_dir, url: str, *argv: str) -> tuple[int, dict]:
    monkeypatch.setenv("LEDGER_DEPLOYMENT_ID", deployment_id)
    monkeypatch.setenv("LEDGER_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LEDGER_SECRET_KEY", f"secret-of-{deployment_id}")
    code = main(["--database-url", url, *argv])
    return code, json.loads(capsys.readouterr().out)


def test_a_volunteer_moves_and_leaves_for_another_county_from_the_command_line(tmp_path, capsys, monkeypatch):
    url_one, url_two = fresh_database("sqlite", tmp_path), fresh_database("sqlite", tmp_path)
    one = deployment_over(make_engine(url_one), tmp_path, "cli-county-1", secret=b"secret-of-cli-county-1")
    two = deployment_over(make_engine(url_two), tmp_path, "cli-county-2", secret=b"secret-of-cli-county-2")
    units, there = f.tree(one), f.tree(two)
    admin_one, _ = f.user(one, "admin")
    admin_two, _ = f.user(two, "admin")
    id_number = f.random_id_number()
    volunteer = f.volunteer(one, units["station_a"], registered_on=dt.date(2024, 1, 1), id_number=id_number)
    dir_one, dir_two = tmp_path / "one", tmp_path / "two"
    cli_one = lambda *a: run(capsys, monkeypatch, "cli-county-1", dir_one, url_one, *a)  # noqa: E731
    cli_two = lambda *a: run(capsys, monkeypatch, "cli-county-2", dir_two, url_two, *a)  # noqa: E731

    _, keys_one = cli_one("deployment-keys", "--as-user", admin_one.username)
    _, keys_two = cli_two("deployment-keys", "--as-user", admin_two.username)
    assert (dir_one / "deployment_key.pem").stat().st_mode & 0o777 == 0o600
    assert "PRIVATE" not in json.dumps(keys_one)
    code, _ = cli_one("deployment-keys", "--trust", "cli-county-2", keys_two["own"]["public_key"],
                      "--as-user", admin_one.username)
    assert code == 0
    cli_two("deployment-keys", "--trust", "cli-county-1", keys_one["own"]["public_key"], "--as-user", admin_two.username)

    code, moved = cli_one("transfer", str(volunteer), str(units["station_b"]), "--on", "2025-02-01",
                          "--as-user", admin_one.username)
    assert code == 0 and moved["to_unit_id"] == units["station_b"]
    _, history = cli_one("memberships", str(volunteer), "--as-user", admin_one.username)
    assert [m["unit_id"] for m in history["memberships"]] == [units["station_a"], units["station_b"]]
    code, bad = cli_one("transfer", str(volunteer), str(units["station_b"]), "--on", "2025-03-01",
                        "--as-user", admin_one.username)
    assert code == 2 and bad["field"] == "to_unit_id"

    package = tmp_path / "package.json"
    code, exported = cli_one("export-package", str(volunteer), "cli-county-2", "--left-on", "2025-03-01",
                             "--out", str(package), "--as-user", admin_one.username)
    assert code == 0 and package.exists()
    monkeypatch.setattr("getpass.getpass", lambda prompt="": id_number)
    code, imported = cli_two("import-package", str(package), "--home-unit", str(there["station_a"]),
                             "--arrived-on", "2025-03-02", "--ask-id-number", "--as-user", admin_two.username)
    assert code == 0 and imported["created"] is True
    assert bal(two, "volunteer_minutes", imported["volunteer_id"]) == 0  # no service yet: nothing to carry
    package.write_bytes(package.read_bytes().replace(b"2025-03-01", b"2025-03-02", 1))
    code, refused = cli_two("import-package", str(package), "--home-unit", str(there["station_a"]),
                            "--ask-id-number", "--as-user", admin_two.username)
    assert code == 2 and refused["details"]["reason"] == "bad_signature"
    one.engine.dispose()
    two.engine.dispose()
