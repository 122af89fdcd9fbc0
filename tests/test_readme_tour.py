"""The README's curl tour works as written: a real `ledger serve` (scheduler on) over a fresh
SQLite database seeds the demo data, and every curl command of the tour answers 2xx JSON.

The commands are read from README.md (the ```sh block under "A short tour with curl"), so
the README cannot drift from what the service does.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tour_commands() -> list[str]:
    """Each curl command of the tour, with its backslash continuations joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A short tour with curl", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in block.splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            if current.strip():
                commands.append(current.strip())
            current = ""
    return commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """`ledger serve` on a fresh SQLite file; yields the port."""
    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'tour.sqlite3'}",
           "LEDGER_DATA_DIR": str(tmp_path), "LEDGER_ENVIRONMENT": "local"}
    env.pop("LEDGER_SCHEDULER_ENABLED", None)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:  # wait until it answers (or died): no timed assertion, just readiness
            if server.poll() is not None:
                pytest.fail("ledger serve exited:\n" + (tmp_path / "serve.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield port, tmp_path / "serve.log"
    finally:
        server.terminate()
        server.wait()
        log.close()


def test_every_curl_command_of_the_readme_tour_answers_2xx_json(served):
    port, log = served
    commands = tour_commands()
    assert len(commands) >= 10 and all(c.startswith("curl ") for c in commands), commands
    answers = []
    commands = [c.replace("localhost:8000", f"127.0.0.1:{port}") for c in commands]
    for command in commands:
        command = command.replace("curl -s", "curl -s -w '\\n%{http_code}'", 1)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
        body, _, status = done.stdout.rpartition("\n")
        assert done.returncode == 0 and status.startswith("2"), (command, status, body, log.read_text()[-3000:])
        answers.append(json.loads(body))
    by_path = {_path(c): a for c, a in zip(commands, answers)}
    # the ids the README promises on a fresh demo database
    assert by_path["POST /volunteers"]["id"] == 11
    assert by_path["POST /activities"]["id"] == 41
    assert (by_path["POST /service-records"]["id"], by_path["POST /service-records"]["volunteer_id"],
            by_path["POST /service-records"]["activity_id"]) == (41, 11, 41)
    assert by_path["POST /service-records/41/approve"]["status"] == "posted"
    # 2.5 hours × 10 points per hour (卫生环保 ×1) = 25 points, as the README says
    assert (by_path["GET /volunteers/11/balances"]["minutes_total"],
            by_path["GET /volunteers/11/balances"]["points"]) == (150, 25)
    assert by_path["GET /units/4/hours"]["reconciled"] is True
    assert by_path["POST /service-records/41/reverse"]["status"] == "reversed"
    assert by_path["GET /ledger/verify"]["ok"] is True
    assert "job seal_day ran" in log.read_text()  # the scheduler is on and caught up


def _path(command: str) -> str:
    method = "POST" if " -X POST " in command else "GET"
    url = re.search(r"127\.0\.0\.1:\d+(/[^ ?']*)", command).group(1)
    return f"{method} {url}"
