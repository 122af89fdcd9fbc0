"""PostgreSQL settings for production: sized from memory and cores, applied with ALTER SYSTEM
on a private server (never the shared one)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from ledger.store import pgsettings
from ledger.store.pgsettings import GB, MB, production_settings


def test_settings_follow_the_machine_and_keep_durability():
    small = production_settings(2 * GB, 2)
    large = production_settings(256 * GB, 32)
    assert small["shared_buffers"] == "512MB" and large["shared_buffers"] == f"{16 * GB // MB}MB"  # a quarter, ≤ 16 GB
    assert small["effective_cache_size"] == "1536MB"
    assert (small["max_parallel_workers"], large["max_parallel_workers"]) == ("2", "32")
    assert small["synchronous_commit"] == large["synchronous_commit"] == "on"
    assert production_settings(256 * MB, 1)["shared_buffers"] == "128MB"  # never below the stock value


@pytest.mark.slow
def test_apply_sets_them_on_a_private_server_and_names_what_needs_a_restart():
    from tests.faults.pgcluster import PrivateCluster, postgres_bin

    try:
        postgres_bin()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    with PrivateCluster(settings={"fsync": "off"}) as cluster:  # no command-line sizes: ALTER SYSTEM rules
        engine = create_engine(cluster.url())
        chosen = production_settings(1 * GB, 2)
        restart = pgsettings.apply(engine, chosen)
        assert "shared_buffers" in restart
        deadline = time.monotonic() + 10  # the reload is a signal: new sessions see it shortly
        while True:
            with engine.connect() as conn:
                shown = (conn.execute(text("SHOW max_wal_size")).scalar_one(),
                         conn.execute(text("SHOW checkpoint_timeout")).scalar_one())
            if shown == ("8GB", "15min") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert shown == ("8GB", "15min")
        engine.dispose()
        cluster.stop()
        cluster.start()
        engine = create_engine(cluster.url())
        with engine.connect() as conn:
            assert conn.execute(text("SHOW shared_buffers")).scalar_one() == "256MB"
        with pytest.raises(ValueError, match="unknown"):
            pgsettings.apply(engine, {"shared_bufers": "1GB"})
        engine.dispose()
