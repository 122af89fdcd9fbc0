"""Commendation rankings (评先评优) and targets reports: definitions, runs, publication, exports, pages."""
from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.errors import NotFound
from ledger.rankings import exports as rank_exports, runs as rankings, targets
from ledger.store.usecase import read_standby

router = APIRouter(tags=["rankings"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RankingDefinitionCreate(BaseModel):
    code: str = Field(description="stable code; a changed document under the same code is a new version")
    name: str = Field(description="评选名称")
    unit_id: int = Field(description="the unit subtree ranked")
    period_kind: str = Field(description="month | quarter | year")
    subject: str = Field(default="volunteer", description="volunteer | team")
    metrics: list[str] = Field(default_factory=lambda: ["hours"], description="hours, points, activities, rating")
    eligibility: dict = Field(default_factory=dict, description="min_hours, min_points, min_hours_basis "
                              "(period|year), min_star_level, min_activities, no_reversed_records, "
                              "no_upheld_complaint, min_registration_months, active_membership")
    quota: dict = Field(default_factory=lambda: {"top_n": 10}, description="top_n or top_share; per: overall|unit")
    tie_break: list[str | dict] = Field(default_factory=lambda: ["id"], description=(
        "in order: a metric, threshold_reached, last_service, earlier_registration, number, id; or "
        "{\"by\": name, \"order\": \"asc\"|\"desc\"}"))
    notice_days: int = Field(default=7, description="days of public notice (公示)")
    team_attribution: str = Field(default="activity", description="activity | membership (teams)")


class RankingRunCreate(BaseModel):
    definition_id: int
    period: str = Field(description="2025, 2025-Q4 or 2025-12")
    position: int | None = Field(default=None, description="ledger position (transactions.id); default now")
    as_of: dt.date | None = Field(default=None, description="截至日期: a cut-off inside the period (it may be running)")


class Supersede(BaseModel):
    by_run_id: int
    reason: str = Field(min_length=1, max_length=400)


class TargetReportCreate(BaseModel):
    unit_id: int
    period: str = Field(description="2025-Q4 (or a year or month)")
    position: int | None = None
    as_of: dt.date | None = Field(default=None, description="截至日期: year or quarter to date")


def _file(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f"attachment; filename=\"{filename}\""})


@router.post("/rankings/definitions", status_code=status.HTTP_201_CREATED)
def define(body: RankingDefinitionCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    raw = body.model_dump()
    return run_write(ctx, response, key=key, operation="ranking.define", request=raw,
                     fn=lambda s: rankings.define_ranking(s, user, raw))


@router.get("/rankings/definitions")
def list_definitions(ctx: CtxDep, user: CurrentUser, unit_id: int | None = None) -> list[dict]:
    return read_standby(ctx, lambda s: rankings.list_definitions(s, user, unit_id))


@router.get("/rankings/definitions/{definition_id}")
def get_definition(definition_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read_standby(ctx, lambda s: rankings.definition_public(rankings.require_definition(s, user, definition_id)))


@router.post("/rankings/runs", status_code=status.HTTP_201_CREATED)
def run(body: RankingRunCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.run", request=body.model_dump(),
                     fn=lambda s: rankings.run_ranking(s, user, body.definition_id, body.period, ctx.today(),
                                                       position=body.position, as_of=body.as_of))


@router.get("/rankings/runs")
def list_runs(ctx: CtxDep, user: CurrentUser, definition_code: str | None = None,
              period: str | None = None) -> list[dict]:
    return read_standby(ctx, lambda s: rankings.list_runs(s, user, definition_code, period))


@router.get("/rankings/official")
def official(ctx: CtxDep, user: CurrentUser, definition_code: str, period: str) -> dict:
    def run_(session):
        found = rankings.official_run(session, definition_code, period)
        if found is None:
            raise NotFound(f"no published list for {definition_code} {period}", field="period")
        return rankings.run_public(session, rankings.require_run(session, user, found.id))

    return read_standby(ctx, run_)


@router.get("/rankings/runs/{run_id}")
def get_run(run_id: int, ctx: CtxDep, user: CurrentUser, shortlisted: bool = False,
            limit: int = Query(200, ge=1, le=5000), offset: int = Query(0, ge=0)) -> dict:
    def run_(session):
        found = rankings.run_public(session, rankings.require_run(session, user, run_id))
        found["entries"] = rankings.run_entries(session, user, run_id, only_shortlisted=shortlisted,
                                                limit=limit, offset=offset)
        return found

    return read_standby(ctx, run_)


@router.get("/rankings/runs/{run_id}/reproduce")
def reproduce(run_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read_standby(ctx, lambda s: rankings.reproduce(s, user, run_id))


@router.get("/rankings/runs/{run_id}/entries/{subject_id}/transactions")
def trace(run_id: int, subject_id: int, ctx: CtxDep, user: CurrentUser) -> list[dict]:
    return read_standby(ctx, lambda s: rankings.transactions_of_entry(s, user, run_id, subject_id))


@router.post("/rankings/runs/{run_id}/publish")
def publish(run_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep, response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.publish", request={"run_id": run_id},
                     fn=lambda s: rankings.publish_run(s, user, run_id))


@router.post("/rankings/runs/{run_id}/supersede")
def supersede(run_id: int, body: Supersede, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
              response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="ranking.supersede",
                     request={"run_id": run_id, **body.model_dump()},
                     fn=lambda s: rankings.supersede_run(s, user, run_id, body.by_run_id, body.reason))


@router.get("/rankings/runs/{run_id}/export.xlsx")
def export_xlsx(run_id: int, ctx: CtxDep, user: CurrentUser) -> Response:
    return _file(read_standby(ctx, lambda s: rank_exports.ranking_xlsx(s, user, run_id)), XLSX, f"ranking-{run_id}.xlsx")


@router.get("/rankings/runs/{run_id}/export.csv")
def export_csv(run_id: int, ctx: CtxDep, user: CurrentUser) -> Response:
    return _file(read_standby(ctx, lambda s: rank_exports.ranking_csv(s, user, run_id)), "text/csv; charset=utf-8",
                 f"ranking-{run_id}.csv")


@router.get("/rankings/runs/{run_id}/chart.png")
def chart(run_id: int, ctx: CtxDep, user: CurrentUser) -> Response:
    return Response(read_standby(ctx, lambda s: rank_exports.ranking_chart(s, user, run_id)), media_type="image/png")


@router.get("/targets")
def targets_now(ctx: CtxDep, user: CurrentUser, unit_id: int, period: str, as_of: dt.date | None = None) -> dict:
    return read_standby(ctx, lambda s: targets.preview(s, user, unit_id, period, ctx.today(), as_of=as_of))


@router.post("/targets/reports", status_code=status.HTTP_201_CREATED)
def make_report(body: TargetReportCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="targets.report", request=body.model_dump(),
                     fn=lambda s: targets.make_report(s, user, body.unit_id, body.period, ctx.today(),
                                                      position=body.position, as_of=body.as_of))


@router.get("/targets/reports")
def list_reports(ctx: CtxDep, user: CurrentUser, unit_id: int) -> list[dict]:
    return read_standby(ctx, lambda s: targets.list_reports(s, user, unit_id))


@router.get("/targets/reports/{report_id}")
def get_report(report_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read_standby(ctx, lambda s: targets.report_public(targets.require_report(s, user, report_id)))


@router.get("/targets/reports/{report_id}/export.xlsx")
def report_xlsx(report_id: int, ctx: CtxDep, user: CurrentUser) -> Response:
    figures = read_standby(ctx, lambda s: targets.require_report(s, user, report_id).figures)
    return _file(rank_exports.targets_xlsx(figures), XLSX, f"targets-{report_id}.xlsx")


@router.get("/targets/reports/{report_id}/chart.png")
def report_chart(report_id: int, ctx: CtxDep, user: CurrentUser) -> Response:
    figures = read_standby(ctx, lambda s: targets.require_report(s, user, report_id).figures)
    return Response(rank_exports.targets_chart(figures), media_type="image/png")
