"""激励办法: the policy in force for a unit in Chinese; a new version from a form or from TOML,
priced first by a what-if (table and chart) and only then published, after a confirmation."""
from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.console import menu
from api.console.units import chosen_unit, link_prefix, unit_tree
from api.console.web import FormErrors, StaffDep, StaffForm, form_write, page, redirect, require_page
from api.deps import CtxDep
from ledger.errors import LedgerError, ValidationFailed
from ledger.incentives import describe, policies, policy_form, whatif
from ledger.incentives.document import ROUNDING_RULES
from ledger.incentives.policy import Policy
from ledger.store.usecase import read

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("policies", "激励办法", "/console/policies", ("admin", "unit_admin", "auditor"), order=50))
PUBLISHERS = ("admin", "unit_admin")
EXPIRY_RULES = (("end_of_following_year", "次年年底到期"), ("months", "获得后若干个月到期"), ("none", "长期有效"))
DRAFT_FIELDS = (*policy_form.FIELDS, "document", "effective_from", "period_from", "period_to")


async def form_values(request: Request) -> dict[str, str]:
    """The submitted form as text values (files and repeated fields aside)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _in_force(ctx, staff, unit_id: int) -> tuple[dict, Policy]:
    body = read(ctx, lambda s: policies.in_force(s, staff.principal, unit_id, ctx.today()))
    return body, Policy.from_dict(body["policy"])


@router.get("/console/policies")
def policy_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: Annotated[int | None, Query()] = None,
                published: int | None = None):
    """The policy in force for the chosen unit, in sentences, and the versions that apply to it."""
    require_page(staff, "policies")
    tree = unit_tree(ctx, staff.principal)
    unit = chosen_unit(ctx, staff.principal, unit_id, tree)
    body = policy = versions = None
    if unit:
        body, policy = _in_force(ctx, staff, unit["id"])
        versions = read(ctx, lambda s: policies.list_versions(s, staff.principal, unit["id"]))
    return page(request, "console/policy.html", staff, active="policies", tree=tree, unit=unit,
                prefix=link_prefix("/console/policies"), in_force=body,
                items=describe.policy_items(policy) if policy else [], versions=versions or [],
                published=published, may_publish=staff.principal.role in PUBLISHERS,
                upcoming=[v for v in versions or [] if v["effective_from"] > ctx.today().isoformat()])


def _draft_defaults(ctx, policy: Policy, document: str) -> dict[str, str]:
    today = ctx.today()
    next_month = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return {**policy_form.form_values(policy), "document": document, "effective_from": next_month.isoformat(),
            "period_from": dt.date(today.year - 1, 1, 1).isoformat(),
            "period_to": dt.date(today.year - 1, 12, 31).isoformat()}


@router.get("/console/policies/draft")
def draft_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int, mode: str = "form"):
    """A new version: the common fields on a form, or the whole TOML document; then the what-if."""
    require_page(staff, "policies")
    body, policy = _in_force(ctx, staff, unit_id)
    document = body["version"] and read(ctx, lambda s: policies.show_version(
        s, staff.principal, body["version"]["id"]))["document"]
    values = _draft_defaults(ctx, policy, document or policy_form.to_toml(policy.to_dict()))
    return _draft(request, ctx, staff, unit_id, "toml" if mode == "toml" else "form", values, FormErrors())


def _draft(request, ctx, staff, unit_id: int, mode: str, values: dict, errors: FormErrors, status: int = 200):
    unit = chosen_unit(ctx, staff.principal, unit_id, [])
    return page(request, "console/policy_draft.html", staff, status=status, active="policies", unit=unit,
                mode=mode, values=values, errors=errors, expiry_rules=EXPIRY_RULES,
                rounding=[(rule, describe.ROUNDING_NAMES[rule]) for rule in ROUNDING_RULES])


def _date(values: dict, field: str, errors: FormErrors) -> dt.date | None:
    try:
        return dt.date.fromisoformat(values.get(field, "").strip())
    except ValueError:
        errors.by_field[field] = "请填写日期，格式如 2026-01-01"
        return None


def _document(ctx, staff, unit_id: int, mode: str, values: dict, errors: FormErrors) -> str | None:
    """The draft's TOML text: the form's fields applied to the policy in force, or the text as typed."""
    try:
        if mode == "toml":
            policies.parse_document(values.get("document", ""))
            return values["document"]
        _, policy = _in_force(ctx, staff, unit_id)
        return policy_form.document_from_form(policy, values)
    except LedgerError as error:
        if mode == "toml":
            error.field = "document"
        errors.add(error, DRAFT_FIELDS)
        return None


@router.post("/console/policies/what-if")
async def what_if_page(request: Request, ctx: CtxDep, staff: StaffForm):
    """Price the period under the draft; show the table, the chart and the button to publish it."""
    require_page(staff, "policies")
    values = await form_values(request)
    return await run_in_threadpool(_what_if, request, ctx, staff, values)


def _what_if(request, ctx, staff, values: dict):
    errors = FormErrors()
    mode = "toml" if values.get("mode") == "toml" else "form"
    try:
        unit_id = int(values.get("unit_id", ""))
    except ValueError:
        raise ValidationFailed("请选择单位", field="unit_id") from None
    document = _document(ctx, staff, unit_id, mode, values, errors)
    effective_from = _date(values, "effective_from", errors)
    period_from, period_to = _date(values, "period_from", errors), _date(values, "period_to", errors)
    result = None
    if document and period_from and period_to:
        try:
            result = read(ctx, lambda s: whatif.what_if(s, staff.principal, whatif.WhatIf(
                unit_id, period_from, period_to, document)))
        except LedgerError as error:
            errors.add(error, DRAFT_FIELDS)
    if errors or result is None:
        return _draft(request, ctx, staff, unit_id, mode, values, errors, status=422)
    chart = base64.b64encode(whatif.chart_png(result)).decode() if result["units"] else None
    return page(request, "console/policy_whatif.html", staff, active="policies",
                unit=chosen_unit(ctx, staff.principal, unit_id, []), result=result, chart=chart,
                sentences=whatif.explanation(result), document=document, mode=mode,
                effective_from=effective_from.isoformat(), key=secrets.token_urlsafe(18),
                items=describe.policy_items(Policy.parse(document)), values=values)


@router.post("/console/policies/publish")
async def publish(request: Request, ctx: CtxDep, staff: StaffForm):
    """Publish the draft that was priced (once per key: a second click shows the same version)."""
    require_page(staff, "policies")
    values = await form_values(request)
    unit_id, document = int(values.get("unit_id", "0")), values.get("document", "")
    effective_from = dt.date.fromisoformat(values.get("effective_from", ""))
    command = policies.PublishPolicy(unit_id=unit_id, effective_from=effective_from, document=document)

    def publish_now():
        return form_write(ctx, staff, values.get("key", ""), "policy.publish",
                          {"unit_id": unit_id, "effective_from": effective_from.isoformat(), "document": document},
                          lambda s: policies.version_public(policies.publish_policy(s, staff.principal, command)))

    try:
        version = await run_in_threadpool(publish_now)
    except LedgerError as error:  # e.g. a date before the unit's latest version: back to the draft, said there
        errors = FormErrors()
        errors.add(error, DRAFT_FIELDS)
        _, policy = await run_in_threadpool(_in_force, ctx, staff, unit_id)
        draft = {**_draft_defaults(ctx, policy, document), "effective_from": effective_from.isoformat()}
        return await run_in_threadpool(_draft, request, ctx, staff, unit_id, "toml", draft, errors, error.status)
    return redirect(f"/console/policies?unit_id={unit_id}&published={version['version']}")
