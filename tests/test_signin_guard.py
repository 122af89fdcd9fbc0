"""Sign-in lock-out under a storm of guesses, and whose X-Forwarded-For is believed."""
from __future__ import annotations

import threading
import uuid

import httpx
from sqlalchemy import func, select

from ledger.errors import LedgerError
from ledger.people import signin
from ledger.people.access import SYSTEM
from ledger.people.tables import SignInAttempt
from tests import factories as f
from tests.browser import live_server

GUESSES = 60


def _volunteer_with_code(ctx) -> str:
    units = f.tree(ctx)
    volunteer_id = f.volunteer(ctx, units["station_a"])
    with ctx.uow() as uow:
        made = signin.issue_code(uow.session, SYSTEM, ctx.secret_key, volunteer_id, kind="code", now=ctx.now(),
                                 limits=signin.Limits.from_options(ctx.options))
        uow.commit()
    return made["volunteer_number"]


def test_simultaneous_wrong_guesses_never_evaluate_more_than_the_limit(ctx):
    """60 threads guess at once (real threads, real connections): at most 5 are ever evaluated."""
    number = _volunteer_with_code(ctx)
    start, outcomes = threading.Barrier(GUESSES), []

    def guess(i: int) -> None:
        start.wait()
        try:
            signin.sign_in(ctx, number, f"wrong-{i}", f"10.0.{i // 250}.{i % 250}")  # never the real code
        except LedgerError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with ctx.uow() as uow:
        evaluated = uow.session.execute(select(func.count()).where(SignInAttempt.volunteer_number == number)).scalar()
    limit = signin.Limits.from_options(ctx.options).per_volunteer
    assert len(outcomes) == GUESSES
    assert evaluated == limit, f"{evaluated} guesses were evaluated against a limit of {limit}"
    assert outcomes.count("too_many_attempts") == GUESSES - limit + 1  # the 5th wrong guess locks, too


def _attempt_address(ctx, number: str) -> str:
    with ctx.uow() as uow:
        return uow.session.execute(select(SignInAttempt.client_address).where(
            SignInAttempt.volunteer_number == number).order_by(SignInAttempt.id.desc()).limit(1)).scalar_one()


def test_x_forwarded_for_is_believed_only_from_a_named_proxy(ctx):
    number = f.ref("V")
    with live_server(ctx) as url:  # served as `ledger serve` serves, on loopback
        httpx.post(f"{url}/selfservice/sign-in", json={"number": number, "code": "000000"},
                   headers={"X-Forwarded-For": "203.0.113.9", "Idempotency-Key": str(uuid.uuid4())})
    assert _attempt_address(ctx, number) == "127.0.0.1"  # loopback is not a proxy unless named
    ctx.options = {**ctx.options, "trusted_proxies": "127.0.0.1"}
    with live_server(ctx) as url:
        httpx.post(f"{url}/selfservice/sign-in", json={"number": number, "code": "000000"},
                   headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    assert _attempt_address(ctx, number) == "203.0.113.9"  # the hop the named proxy saw
