"""A real `ledger serve` in a subprocess on a loopback port, that tests can SIGKILL and restart.

Its stdout and stderr go to a log file the tests read (personal-data greps, diagnostics).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECRET = "test-secret-key"  # the same key tests/conftest.py gives the in-process contexts
READY_SECONDS = 60


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqlalchemy_to_plain(url: str) -> str:
    """`postgresql+psycopg://…` → `postgresql://…` (what LEDGER_DATABASE_URL usually holds)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class LedgerServer:
    """`python -m api.cli serve` against one database; start, kill -9, restart."""

    def __init__(self, database_url: str, workdir: Path, *, scheduler: bool = False,
                 rate_limit_per_minute: int = 1_000_000, extra_env: dict | None = None):
        self.database_url = sqlalchemy_to_plain(database_url)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scheduler = scheduler
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.env = {**os.environ, "LEDGER_DATABASE_URL": self.database_url, "LEDGER_SECRET_KEY": SECRET,
                    "LEDGER_ENVIRONMENT": "local", "LEDGER_DEMO_DATA": "false",
                    "LEDGER_DATA_DIR": str(self.workdir / "data"),
                    "LEDGER_RATE_LIMIT_PER_MINUTE": str(rate_limit_per_minute),
                    "PYTHONUNBUFFERED": "1", **(extra_env or {})}

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> "LedgerServer":
        """Start the server and wait until /health answers."""
        command = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--no-demo"]
        if not self.scheduler:
            command.append("--no-scheduler")
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {self.starts + 1}: {' '.join(command)}\n".encode())
        log.flush()
        self.process = subprocess.Popen(command, cwd=self.workdir, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.starts += 1
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ledger serve exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ledger serve did not answer within {READY_SECONDS} s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing — a power cut for the process."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """A polite stop (SIGTERM), then SIGKILL if it does not go."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_kib(self) -> int:
        """Resident memory of the server process, from /proc (KiB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "LedgerServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def auth(token: str, key: str | None = None) -> dict:
    """Headers for a request: the bearer token, and an Idempotency-Key for a write."""
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers
