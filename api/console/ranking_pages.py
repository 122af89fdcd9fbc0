"""评先评优: the definitions of a unit (picked in the tree) in sentences, a definition from a form,
a run with its progress shown, the run's list, chart and exports, publication after a confirmation.
The rules are the rankings package's (`define_ranking`, `run_ranking`, `publish_run`)."""
from __future__ import annotations

import datetime as dt
import secrets

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.console import menu
from api.console.policy_pages import form_values
from api.console.units import as_page, chosen_unit, link_prefix, unit_tree
from api.console.web import FormErrors, StaffDep, StaffForm, form_write, page, redirect, require_page
from api.deps import CtxDep
from ledger.errors import LedgerError, ValidationFailed
from ledger.people import org
from ledger.rankings import definitions as rules, describe, notices, runs as rankings
from ledger.store.usecase import read

router = APIRouter(include_in_schema=False)
menu.register(menu.MenuItem("rankings", "评先评优", "/console/rankings", ("admin", "unit_admin", "auditor"), order=60))
RUNNERS = ("admin", "unit_admin")
PERIOD_NAMES = {"month": "月度", "quarter": "季度", "year": "年度"}
METRIC_CHOICES = [(m, rules.METRIC_NAMES[m]) for m in rules.METRICS]
TIE_CHOICES = [(name, rules.TIE_BREAK_NAMES.get(name, name)) for name in rules.TIE_BREAKS if name != "id"]
DEFINE_FIELDS = ("name", "unit_id", "period_kind", "subject", "metric_1", "metric_2", "min_hours", "min_hours_basis",
                 "min_star_level", "min_points", "min_activities", "quota_kind", "quota_value", "tie_1", "tie_2",
                 "notice_days", "code")


@router.get("/console/rankings")
def rankings_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int | None = None,
                  saved: str | None = None):
    """The definitions of the picked unit's subtree, each in sentences with its latest runs and a run form."""
    require_page(staff, "rankings")
    return _list(request, ctx, staff, unit_id, FormErrors(), saved=saved)


def _list(request, ctx, staff, unit_id, errors: FormErrors, *, status: int = 200, saved=None):
    with as_page():
        tree = unit_tree(ctx, staff.principal)
        unit = chosen_unit(ctx, staff.principal, unit_id, tree)
        shown = read(ctx, lambda s: _definitions(s, staff.principal, unit["id"], ctx.today())) if unit else []
    return page(request, "console/ranking_list.html", staff, status=status, active="rankings", tree=tree, unit=unit,
                saved=saved, prefix=link_prefix("/console/rankings"), definitions=shown, errors=errors,
                may_run=staff.principal.role in RUNNERS, key=secrets.token_urlsafe(18))


def _definitions(session, principal, unit_id: int, today: dt.date) -> list[dict]:
    """The newest version of each definition under the unit, with its sentences and last runs."""
    newest: dict[str, dict] = {}
    for definition in rankings.list_definitions(session, principal, unit_id):
        if definition["code"] not in newest:  # listed newest version first
            newest[definition["code"]] = definition
    shown = []
    for definition in newest.values():
        runs = [r for r in rankings.list_runs(session, principal, definition["code"])
                if r["definition_id"] == definition["id"]][:5]
        shown.append({**definition, "sentences": describe.definition_items(definition["document"]),
                      "period_name": PERIOD_NAMES[definition["period_kind"]], "runs": runs,
                      "next_period": rules.previous_period(definition["period_kind"], today)})
    return shown


@router.get("/console/rankings/define")
def define_page(request: Request, ctx: CtxDep, staff: StaffDep, unit_id: int | None = None):
    """The form of a new definition (评选办法)."""
    require_page(staff, "rankings")
    values = {"unit_id": str(unit_id or ""), "period_kind": "year", "subject": "volunteer", "metric_1": "hours",
              "metric_2": "", "min_hours": "20", "min_hours_basis": "period", "min_star_level": "0",
              "quota_kind": "top_n", "quota_value": "10", "tie_1": "points", "tie_2": "earlier_registration",
              "notice_days": str(rules.DEFAULT_NOTICE_DAYS)}
    return _define_form(request, ctx, staff, values, FormErrors())


def _define_form(request, ctx, staff, values: dict, errors: FormErrors, status: int = 200):
    with as_page():
        tree = unit_tree(ctx, staff.principal)
        unit = chosen_unit(ctx, staff.principal, int(values["unit_id"]), tree) if values.get("unit_id") else None
    return page(request, "console/ranking_define.html", staff, status=status, active="rankings", tree=tree,
                unit=unit, values=values, errors=errors, metrics=METRIC_CHOICES, ties=TIE_CHOICES,
                period_kinds=list(PERIOD_NAMES.items()), key=values.get("key") or secrets.token_urlsafe(18))


def definition_from_form(values: dict) -> dict:
    """The definition document the form describes (validated by `define_ranking`)."""
    def whole(name: str, label: str) -> int:
        text = values.get(name, "").strip() or "0"
        if not text.isdigit():
            raise ValidationFailed(f"{label}应为不小于 0 的整数", field=name)
        return int(text)

    if not values.get("unit_id", "").isdigit():
        raise ValidationFailed("请在单位树中选择评选范围", field="unit_id")
    metrics = [m for m in (values.get("metric_1"), values.get("metric_2")) if m]
    ties = [t for t in (values.get("tie_1"), values.get("tie_2")) if t and t not in metrics]
    hours = values.get("min_hours", "").strip() or "0"
    try:
        float(hours)
    except ValueError:
        raise ValidationFailed("最少时长应为数字（小时）", field="min_hours") from None
    eligibility = {"min_hours": hours, "min_hours_basis": values.get("min_hours_basis", "period"),
                   "min_star_level": whole("min_star_level", "最低星级"), "min_points": whole("min_points", "最少积分"),
                   "min_activities": whole("min_activities", "最少活动次数"),
                   "no_reversed_records": values.get("no_reversed_records") == "on",
                   "active_membership": values.get("active_membership") == "on"}
    if values.get("subject") == "team":
        eligibility = {key: value for key, value in eligibility.items()
                       if key not in rules.VOLUNTEER_ONLY_RULES}
    quota_value = values.get("quota_value", "").strip()
    if values.get("quota_kind") == "top_share":
        quota: dict = {"top_share": (quota_value.rstrip("%") + "%") if quota_value else ""}
    else:
        quota = {"top_n": whole("quota_value", "名额")}
    quota["per"] = "unit" if values.get("quota_per_unit") == "on" else "overall"
    code = values.get("code", "").strip() or f"r{values['unit_id']}-{secrets.token_hex(4)}"
    return {"code": code, "name": values.get("name", ""), "unit_id": int(values["unit_id"]),
            "period_kind": values.get("period_kind"), "subject": values.get("subject", "volunteer"),
            "metrics": metrics, "eligibility": eligibility, "quota": quota, "tie_break": ties + ["id"],
            "notice_days": whole("notice_days", "公示天数") or rules.DEFAULT_NOTICE_DAYS}


@router.post("/console/rankings/define")
async def define(request: Request, ctx: CtxDep, staff: StaffForm):
    """Store the definition (a changed document under a code is a new version)."""
    require_page(staff, "rankings")
    values = await form_values(request)
    return await run_in_threadpool(_define, request, ctx, staff, values)


def _define(request, ctx, staff, values: dict):
    errors = FormErrors()
    try:
        raw = definition_from_form(values)
        saved = form_write(ctx, staff, values.get("key", ""), "ranking.define", raw,
                           lambda s: rankings.define_ranking(s, staff.principal, raw))
    except LedgerError as error:
        errors.add(_on_form(error), DEFINE_FIELDS)
        return _define_form(request, ctx, staff, values, errors, status=422)
    return redirect(f"/console/rankings?unit_id={saved['unit_id']}&saved={saved['code']}")


def _on_form(error: LedgerError) -> LedgerError:
    """A definition's field path (eligibility.min_hours, quota.top_n) as the form's field."""
    path = error.field or ""
    names = {"quota.top_n": "quota_value", "quota.top_share": "quota_value", "quota": "quota_value",
             "metrics": "metric_1", "tie_break": "tie_1"}
    for prefix, name in names.items():
        if path.startswith(prefix):
            error.field = name
            return error
    error.field = path.split(".")[-1].split("[")[0] if path else None
    return error


@router.post("/console/rankings/run")
async def run(request: Request, ctx: CtxDep, staff: StaffForm):
    """Run a definition for a period (the page shows that it is working); then show the run."""
    require_page(staff, "rankings")
    values = await form_values(request)
    definition_id = int(values.get("definition_id", "0"))
    as_of = values.get("as_of", "").strip() or None

    def run_now():
        request_body = {"definition_id": definition_id, "period": values.get("period", "").strip(), "as_of": as_of}
        return form_write(ctx, staff, values.get("key", ""), "ranking.run", request_body,
                          lambda s: rankings.run_ranking(s, staff.principal, definition_id, request_body["period"],
                                                       ctx.today(), as_of=as_of))

    try:
        result = await run_in_threadpool(run_now)
    except LedgerError as error:  # a period not ended, a cut-off outside it: said above the list
        errors = FormErrors()
        errors.general.append(f"未能运行：{_message(error)}")
        unit_id = int(values["unit_id"]) if values.get("unit_id", "").isdigit() else None
        return await run_in_threadpool(_list, request, ctx, staff, unit_id, errors, status=error.status)
    return redirect(f"/console/rankings/runs/{result['id']}")


def _message(error: LedgerError) -> str:
    from api.i18n import chinese_message

    return chinese_message(error.code, error.message, error.field)


@router.get("/console/rankings/runs/{run_id}")
def run_page(request: Request, ctx: CtxDep, staff: StaffDep, run_id: int, published: str | None = None):
    """A run: what it read, its sentences, chart, list, exports, and publication."""
    require_page(staff, "rankings")
    return _run_page(request, ctx, staff, run_id, published, FormErrors(), 200)


def _run_page(request, ctx, staff, run_id: int, published, errors: FormErrors, status: int):

    def load(session):
        found = rankings.run_public(session, rankings.require_run(session, staff.principal, run_id))
        definition = rankings.require_definition(session, staff.principal, found["definition_id"])
        found["entries"] = rankings.run_entries(session, staff.principal, run_id, limit=500)
        names = {unit["id"]: unit["name"] for unit in org.list_units(session, staff.principal)}
        for entry in found["entries"]:
            entry["unit_name"] = names.get(entry["group_unit_id"], "")
        found["notice"] = next((n for n in notices.list_notices(session, staff.principal, ctx.today())
                                if n["run_id"] == run_id), None)
        return found, rankings.definition_public(definition)

    with as_page():
        found, definition = read(ctx, load)
    return page(request, "console/ranking_run.html", staff, status=status, errors=errors, active="rankings",
                run=found, definition=definition,
                sentences=describe.definition_items(definition["document"]), published=published,
                may_publish=staff.principal.role in RUNNERS, key=secrets.token_urlsafe(18))


@router.post("/console/rankings/runs/{run_id}/publish")
async def publish(request: Request, ctx: CtxDep, staff: StaffForm, run_id: int):
    """Publish a run as the official list, after the page's confirmation."""
    require_page(staff, "rankings")
    values = await form_values(request)
    try:
        await run_in_threadpool(lambda: form_write(ctx, staff, values.get("key", ""), "ranking.publish",
                                                   {"run_id": run_id},
                                                   lambda s: rankings.publish_run(s, staff.principal, run_id)))
    except LedgerError as error:  # another run is official, this one was superseded: said on the run's page
        errors = FormErrors()
        errors.general.append(f"未能发布：{_message(error)}")
        return await run_in_threadpool(_run_page, request, ctx, staff, run_id, None, errors, error.status)
    return redirect(f"/console/rankings/runs/{run_id}?published=1")


@router.post("/console/rankings/runs/{run_id}/notice")
async def put_on_notice(request: Request, ctx: CtxDep, staff: StaffForm, run_id: int):
    """Put the published list on public notice (公示) for the days its definition says."""
    require_page(staff, "rankings")
    values = await form_values(request)
    try:
        await run_in_threadpool(lambda: form_write(ctx, staff, values.get("key", ""), "ranking.notice",
                                                   {"run_id": run_id},
                                                   lambda s: notices.put_on_notice(s, staff.principal, run_id,
                                                                                 ctx.today())))
    except LedgerError as error:
        errors = FormErrors()
        errors.general.append(f"未能公示：{_message(error)}")
        return await run_in_threadpool(_run_page, request, ctx, staff, run_id, None, errors, error.status)
    return redirect(f"/console/rankings/runs/{run_id}?published=notice")
