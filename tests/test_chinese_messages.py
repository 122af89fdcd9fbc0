"""What a person reads is Chinese: domain errors, the framework's validation errors, the console's
pages.  English only where the client asks for it (Accept-Language: en); codes and fields stay."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from api.i18n import KNOWN, chinese_message, is_chinese_enough, localise
from ledger.people.tables import Unit, User
from tests import factories as f
from tests.console_support import client_sign_in, console_client, staff  # noqa: F401

# words that may stand in a Chinese sentence: codes, formats and product names people know
ALLOWED = {"ID", "PIN", "QR", "Excel", "CSV", "csv", "PDF", "TOML", "JSON", "xlsx", "Idempotency-Key", "Key", "Idempotency",
           "YYYY-MM-DD", "YYYY", "MM", "DD", "MB"}


def english_in(text: str, names: tuple[str, ...] = ()) -> list[str]:
    """English words in a text a person reads, once names and codes are set aside."""
    for name in names:
        text = text.replace(name, " ")
    text = re.sub(r"\bimport:\d{8}-[0-9a-f]+", " ", text)  # an import batch's id is a code
    words = re.findall(r"[A-Za-z][A-Za-z0-9_\-]{2,}", text)  # user names like unit_admin-3f2a are names
    return [w for w in words if w not in ALLOWED and not re.search(r"[\d_]", w)]


def visible_text(page_html: str) -> str:
    """The text of a page as a person sees it (no tags, scripts, styles or attributes)."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    return html.unescape(body)


ENGLISH_DOMAIN_MESSAGES = [
    ("not_found", "service record 12 not found", "record_id"),
    ("unknown_volunteer", "no volunteer with number 'V123'", "number"),
    ("unknown_volunteer", "volunteer 7 does not exist", "volunteer_id"),
    ("conflict", "only a pending record can be approved; this one is posted", "record_id"),
    ("invalid", "a rejection needs a reason", "reason"),
    ("idempotency_key_reused", "this Idempotency-Key was already used for a different request", "Idempotency-Key"),
    ("unauthenticated", "unknown token", "Authorization"),
    ("forbidden", "role 'auditor' may not do this (needs one of admin, unit_admin)", "role"),
    ("invalid", "something nobody translated yet", "started_at"),
    ("policy_invalid", "caps.per_day_minutes: a day has only 1440 minutes", "caps.per_day_minutes"),
    ("policy_invalid", "stars.levels[1].hours: some reason nobody translated", "stars.levels[1].hours"),
    ("too_many_attempts", "错误次数过多，请 3 分钟后再试 (too many wrong codes for this volunteer number; try again "
                          "in 3 min)", "code"),
    ("not_found", "志愿者 5 不存在或不在您的管辖范围 (volunteer 5 not found or outside your scope)", "volunteer_id"),
]


@pytest.mark.parametrize("code, message, field", ENGLISH_DOMAIN_MESSAGES)
def test_every_domain_message_reaches_a_person_in_chinese(code, message, field):
    text = chinese_message(code, message, field)
    assert is_chinese_enough(text) and not english_in(text, (field,)), text


def test_the_known_sentences_are_all_chinese():
    assert all(pattern.pattern for pattern, _ in KNOWN)
    samples = ["this record is already reversed", "a volunteer with this ID-card number is already registered",
               "the database is unavailable; nothing was changed, retry with the same Idempotency-Key",
               "registered_on cannot be in the future", "name (姓名) must not be empty"]
    for sample in samples:
        text = chinese_message("invalid", sample, None)
        assert not english_in(text), (sample, text)


def test_a_client_that_asks_for_english_gets_the_english_text():
    body = {"code": "not_found", "field": "volunteer_id",
            "message": "志愿者 5 不存在或不在您的管辖范围 (volunteer 5 not found or outside your scope)"}
    assert localise(body, "en-US,en;q=0.9")["message"] == "volunteer 5 not found or outside your scope"
    assert localise(body, "zh-CN,zh;q=0.9")["message"] == "志愿者 5 不存在或不在您的管辖范围"
    assert localise(body, None)["message"] == "志愿者 5 不存在或不在您的管辖范围"


def test_api_errors_are_chinese_unless_english_is_asked_for(client, ctx):
    units = f.tree(ctx)
    _, token = f.user(ctx, "unit_admin", units["station_a"])
    auth = {"Authorization": f"Bearer {token}"}
    unknown = client.get("/volunteers/987654321", headers=auth).json()
    assert unknown["code"] in ("not_found", "unknown_volunteer") and not english_in(unknown["message"])
    missing = client.post("/volunteers", json={"home_unit_id": units["station_a"]},
                          headers={**auth, "Idempotency-Key": f.ref("k")}).json()
    assert (missing["code"], missing["field"], missing["message"]) == ("invalid", "name", "姓名：必填")
    key = f.ref("k")
    body = {"name": "赵六", "home_unit_id": units["station_a"]}
    assert client.post("/volunteers", json=body, headers={**auth, "Idempotency-Key": key}).status_code == 201
    reused = client.post("/volunteers", json={**body, "name": "钱七"}, headers={**auth, "Idempotency-Key": key})
    assert reused.json()["code"] == "idempotency_key_reused" and not english_in(reused.json()["message"], ("Idempotency-Key",))
    english = client.post("/volunteers", json={"home_unit_id": units["station_a"]},
                          headers={**auth, "Idempotency-Key": f.ref("k"), "Accept-Language": "en"}).json()
    assert english["message"] == "name: Field required"
    no_token = client.get("/me").json()
    assert no_token["code"] == "unauthenticated" and not english_in(no_token["message"])


@pytest.mark.parametrize("role", ["admin", "unit_admin", "desk_operator", "auditor"])
def test_no_console_page_shows_english_outside_names_and_codes(console_client, ctx, role):
    units = f.tree(ctx)
    user, _ = staff(ctx, role, units["station_a"] if role in ("unit_admin", "desk_operator") else None)
    sign_in_page = visible_text(console_client.get("/").text)
    assert not english_in(sign_in_page), sign_in_page
    client_sign_in(console_client, user.username)
    from api.console.menu import menu_for

    with ctx.uow() as uow:  # names and codes are shown as they are (the audit log names every actor and unit)
        names = (user.username, "test", *uow.session.execute(select(User.username)).scalars(),
                 *uow.session.execute(select(Unit.code)).scalars())
    for item in menu_for(role):
        answer = console_client.get(item.href)
        assert answer.status_code == 200, (item.href, answer.status_code)
        text = visible_text(answer.text)
        assert not english_in(text, names), (item.href, english_in(text, names))
