"""Transfer packages between deployments: any altered byte is refused, an untrusted key is
refused, a double import is a no-op, a stale package is refused, points need agreeing policies."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from ledger.book import deployment_keys
from ledger.book.tables import DeploymentPeer, Transaction
from ledger.errors import PackageRefused, ValidationFailed
from ledger.people.tables import Volunteer
from ledger.store.db import make_engine
from ledger.transfers import packages
from tests import factories as f
from tests.conftest import drop_pg_database, fresh_database
from tests.test_transfers_support import bal, deployment_over, publish, second_deployment, serve


@pytest.fixture(scope="module")
def other_databases(tmp_path_factory):
    """Deployment 2's database, one per engine for this module (made on first use)."""
    made: dict[str, tuple] = {}
    yield made
    for kind, (engine, url) in made.items():
        engine.dispose()
        if kind == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def two(ctx, tmp_path, other_databases):
    """Deployment 1 over `ctx`, deployment 2 over a database of its own; each trusts the other.

    Deployment ids are fresh per test, so the tests sharing deployment 2's database never meet.
    """
    ctx.options["data_dir"] = str(tmp_path / "here")
    ctx.deployment_id = f.ref("county-1")
    kind = "sqlite" if ctx.is_sqlite else "postgresql"
    if kind not in other_databases:
        url = fresh_database(kind, tmp_path)
        other_databases[kind] = (make_engine(url), url)
    there = deployment_over(other_databases[kind][0], tmp_path, f.ref("county-2"))
    admin_here, _ = f.user(ctx, "admin")
    admin_there, _ = f.user(there, "admin")
    for (a, a_admin), b in (((ctx, admin_here), there), ((there, admin_there), ctx)):
        public = deployment_keys.own_key(b.options["data_dir"], b.deployment_id, b.deployment_name)["public_key"]
        with a.uow() as uow:
            deployment_keys.trust_key(uow.session, a_admin, deployment_id=b.deployment_id, name=b.deployment_name,
                                      public_key=public, own_deployment_id=a.deployment_id)
            uow.commit()
    return ctx, there, admin_here, admin_there


def export(ctx, admin, volunteer_id, to_deployment_id, left_on=dt.date(2025, 3, 1)):
    with ctx.uow() as uow:
        result = packages.export_volunteer(
            uow.session, admin, packages.ExportVolunteer(volunteer_id, to_deployment_id, left_on),
            signing_key=deployment_keys.signing_key(ctx.options["data_dir"]), deployment_id=ctx.deployment_id,
            deployment_name=ctx.deployment_name, today=ctx.today(), now=ctx.now())
        uow.commit()
    return result


def import_(ctx, admin, package, home_unit_id, id_number, arrived_on=dt.date(2025, 3, 2)):
    with ctx.uow() as uow:
        result = packages.import_package(
            uow.session, admin, packages.ImportPackage(package, home_unit_id, id_number, arrived_on),
            secret=ctx.secret_key, deployment_id=ctx.deployment_id, today=ctx.today(), future_limit_days=30)
        uow.commit()
    return result


def small_volunteer(ctx, minutes=120):
    units = f.tree(ctx)
    recorder, _ = f.user(ctx, "unit_admin", units["institute"])
    approver, _ = f.user(ctx, "admin")
    id_number = f.random_id_number()
    volunteer_id = f.volunteer(ctx, units["station_a"], registered_on=dt.date(2024, 1, 1), id_number=id_number)
    serve(ctx, recorder, approver, volunteer_id, units["station_a"], [dt.date(2025, 1, 6)], minutes=minutes)
    return volunteer_id, id_number


def _trusted(session, deployment_id):
    return session.execute(select(DeploymentPeer).where(DeploymentPeer.deployment_id == deployment_id)).scalar_one_or_none()


def test_every_single_altered_byte_is_refused(two):
    here, there, admin_here, _ = two
    volunteer_id, _ = small_volunteer(here)
    text = packages.canonical(export(here, admin_here, volunteer_id, there.deployment_id)["package"])
    with there.uow() as uow:
        find = lambda d: _trusted(uow.session, d)  # noqa: E731
        body, _peer = packages.open_package(text, find, there.deployment_id)  # the untouched package opens
        assert body["totals"] == {"minutes": 120, "points": 20, "star_level": 0}
        reasons = {}
        for position in range(len(text)):
            altered = bytearray(text)
            altered[position] = (altered[position] + 1) % 256
            with pytest.raises(PackageRefused) as caught:
                packages.open_package(bytes(altered), find, there.deployment_id)
            reasons[caught.value.details["reason"]] = reasons.get(caught.value.details["reason"], 0) + 1
        # the last base64 character of the signature carries 2 padding bits: every spelling is refused
        signature_end = text.rindex(b'=="}') - 1
        for letter in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/":
            if letter != text[signature_end]:
                altered = bytearray(text)
                altered[signature_end] = letter
                with pytest.raises(PackageRefused):
                    packages.open_package(bytes(altered), find, there.deployment_id)
    assert len(text) > 1500 and "bad_signature" in reasons and "not_json" in reasons


def test_untrusted_key_and_wrong_recipient_are_refused_with_the_reason(two, tmp_path):
    here, there, admin_here, admin_there = two
    volunteer_id, id_number = small_volunteer(here)
    envelope = export(here, admin_here, volunteer_id, there.deployment_id)["package"]
    # signed by an impostor key under the trusted deployment's name
    impostor = deployment_keys.signing_key(tmp_path / "impostor")
    body = json.loads(json.dumps(envelope["package"]))
    body["from"]["public_key"] = deployment_keys.public_key_text(impostor)
    forged = {"format": packages.FORMAT, "package": body,
              "signature": deployment_keys.sign(impostor, packages.canonical(body))}
    units = f.tree(there)
    with there.uow() as uow:
        volunteers_before = uow.session.execute(select(func.count()).select_from(Volunteer)).scalar_one()
    with pytest.raises(PackageRefused) as caught:
        import_(there, admin_there, forged, units["station_a"], id_number)
    assert caught.value.details["reason"] == "untrusted_key"
    # a deployment nobody trusts
    body = json.loads(json.dumps(envelope["package"]))
    body["from"]["deployment_id"] = "nobody-county"
    with pytest.raises(PackageRefused) as caught:
        import_(there, admin_there, {**envelope, "package": body}, units["station_a"], id_number)
    assert caught.value.details["reason"] == "untrusted_key" and "not trusted" in caught.value.message
    # deployment 1 cannot import a package addressed to deployment 2 (it does not trust itself either)
    with pytest.raises(PackageRefused) as caught:
        import_(here, admin_here, envelope, f.tree(here)["station_a"], id_number)
    assert caught.value.details["reason"] == "untrusted_key"
    with there.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Volunteer)).scalar_one() == volunteers_before


def test_double_import_is_a_no_op_and_the_id_number_must_match(two):
    here, there, admin_here, admin_there = two
    volunteer_id, id_number = small_volunteer(here)
    envelope = export(here, admin_here, volunteer_id, there.deployment_id)["package"]
    station = f.tree(there)["station_a"]
    with pytest.raises(ValidationFailed) as caught:
        import_(there, admin_there, envelope, station, f.random_id_number("19800101"))
    assert caught.value.field == "id_number"
    first = import_(there, admin_there, envelope, station, id_number)
    with there.uow() as uow:
        tx_count = uow.session.execute(select(func.count()).select_from(Transaction)).scalar_one()
    again = import_(there, admin_there, packages.canonical(envelope), station, id_number)
    assert again["already_imported"] is True and again["volunteer_id"] == first["volunteer_id"]
    with there.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Transaction)).scalar_one() == tx_count
    new_id = first["volunteer_id"]
    assert (bal(there, "volunteer_minutes", new_id), bal(there, "volunteer_points", new_id)) == (120, 20)


def test_a_stale_package_for_a_volunteer_who_arrived_later_is_refused(two, tmp_path):
    """B and C both send the same person to us; C's later package arrives first."""
    here, there, admin_here, admin_there = two
    kind = "sqlite" if here.is_sqlite else "postgresql"
    third, url = second_deployment(kind, tmp_path / "third", f.ref("county-3"))
    try:
        _stale_story(here, there, third, admin_here, admin_there)
    finally:
        third.engine.dispose()
        if kind == "postgresql":
            drop_pg_database(url)


def _stale_story(here, there, third, admin_here, admin_there):
    admin_third, _ = f.user(third, "admin")
    for a, a_admin, b in ((there, admin_there, third), (third, admin_third, there)):
        public = deployment_keys.own_key(b.options["data_dir"], b.deployment_id, "")["public_key"]
        with a.uow() as uow:
            deployment_keys.trust_key(uow.session, a_admin, deployment_id=b.deployment_id, name="",
                                      public_key=public, own_deployment_id=a.deployment_id)
            uow.commit()
    id_number = f.random_id_number()
    older_id = f.volunteer(here, f.tree(here)["station_a"], id_number=id_number, registered_on=dt.date(2024, 1, 1))
    older = export(here, admin_here, older_id, there.deployment_id)["package"]
    later_id = f.volunteer(third, f.tree(third)["station_a"], id_number=id_number, registered_on=dt.date(2024, 1, 1))
    later = export(third, admin_third, later_id, there.deployment_id, left_on=dt.date(2025, 4, 1))["package"]
    station = f.tree(there)["station_a"]
    arrived = import_(there, admin_there, later, station, id_number, arrived_on=dt.date(2025, 4, 2))
    assert arrived["created"] is True
    with pytest.raises(PackageRefused) as caught:
        import_(there, admin_there, older, station, id_number, arrived_on=dt.date(2025, 4, 3))
    assert caught.value.details["reason"] == "superseded" and later["package"]["package_id"] in caught.value.message


def test_points_are_carried_only_when_the_policies_agree(two):
    here, there, admin_here, admin_there = two
    volunteer_id, id_number = small_volunteer(here)
    units = f.tree(there)
    publish(there, units["center"], dt.date(2019, 1, 1), per_hour=12)
    envelope = export(here, admin_here, volunteer_id, there.deployment_id)["package"]
    result = import_(there, admin_there, envelope, units["station_a"], id_number)
    # 120 minutes carried; 20 points are not: 10 points an hour there, 12 here
    assert (result["minutes_carried"], result["points_carried"]) == (120, 0)
    assert "积分未转入" in result["points_note"]
    assert bal(there, "volunteer_points", result["volunteer_id"]) == 0
    # the sender closed both: hours and points left with the volunteer
    assert (bal(here, "volunteer_minutes", volunteer_id), bal(here, "volunteer_points", volunteer_id)) == (0, 0)
