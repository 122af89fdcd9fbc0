"""Incentive policies (嘉许激励办法): publish, list, in force, what-if, adjustment runs; 评单 ratings."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.incentives import adjustments, policies, whatif
from ledger.service import ratings
from ledger.store.usecase import read

router = APIRouter(tags=["policies"])


class PolicyPublish(BaseModel):
    unit_id: int = Field(description="the unit whose subtree the policy covers")
    effective_from: dt.date
    document: str = Field(description="the policy document, TOML (see ledger/incentives/default_policy.toml)")


class WhatIfRequest(BaseModel):
    unit_id: int
    period_from: dt.date
    period_to: dt.date
    document: str = Field(description="the draft policy document, TOML")


class AdjustmentCreate(BaseModel):
    unit_id: int
    period_from: dt.date
    period_to: dt.date


class RatingCreate(BaseModel):
    rating: int | None = Field(default=None, description="评单 1–5")
    complaint_upheld: bool = False


@router.post("/policies", status_code=status.HTTP_201_CREATED)
def publish(body: PolicyPublish, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
            response: Response) -> dict:
    command = policies.PublishPolicy(**body.model_dump())
    return run_write(ctx, response, key=key, operation="policy.publish", request=body.model_dump(mode="json"),
                     fn=lambda s: policies.version_public(policies.publish_policy(s, user, command), with_warnings=True))


class PolicyDraft(BaseModel):
    document: str = Field(description="a draft policy document, TOML")


@router.post("/policies/describe")
def describe(body: PolicyDraft, user: CurrentUser) -> dict:
    """The draft's rules as a Chinese 办法 summary, with warnings; a policy that cannot do what
    it says is refused with the path and the reason.  Writes nothing."""
    return policies.describe_document(body.document)


@router.get("/policies")
def list_versions(ctx: CtxDep, user: CurrentUser, unit_id: int | None = None) -> list[dict]:
    return read(ctx, lambda s: policies.list_versions(s, user, unit_id))


@router.get("/policies/in-force")
def in_force(ctx: CtxDep, user: CurrentUser, unit_id: int, on: dt.date | None = None) -> dict:
    return read(ctx, lambda s: policies.in_force(s, user, unit_id, on or ctx.today()))


@router.get("/policies/{version_id}")
def show_version(version_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: policies.show_version(s, user, version_id))


@router.post("/policies/what-if", response_model=None)
def what_if(body: WhatIfRequest, ctx: CtxDep, user: CurrentUser,
            format: Literal["json", "csv", "xlsx", "png"] = Query("json")) -> dict | Response:
    """Price the period under a draft; writes nothing (so no Idempotency-Key is needed)."""
    result = read(ctx, lambda s: whatif.what_if(s, user, whatif.WhatIf(**body.model_dump())))
    if format == "csv":
        return Response(whatif.to_csv(result).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="what-if.csv"'})
    if format == "xlsx":
        return Response(whatif.to_xlsx(result),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="what-if.xlsx"'})
    if format == "png":
        return Response(whatif.chart_png(result), media_type="image/png")
    return result


@router.post("/policies/adjustment-runs", status_code=status.HTTP_201_CREATED)
def run_adjustment(body: AdjustmentCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                   response: Response) -> dict:
    command = adjustments.RunAdjustment(**body.model_dump())
    return run_write(ctx, response, key=key, operation="policy.adjustment.run",
                     request=body.model_dump(mode="json"),
                     fn=lambda s: adjustments.run_public(s, adjustments.run_adjustment(s, user, command)))


@router.get("/policies/adjustment-runs/{run_id}")
def show_adjustment(run_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: adjustments.run_public(s, adjustments.require_run(s, user, run_id)))


@router.post("/policies/adjustment-runs/{run_id}/confirm")
def confirm_adjustment(run_id: int, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                       response: Response) -> dict:
    return run_write(ctx, response, key=key, operation="policy.adjustment.confirm", request={"run_id": run_id},
                     fn=lambda s: adjustments.run_public(s, adjustments.confirm_adjustment(s, user, run_id)))


@router.post("/service-records/{record_id}/rating", tags=["service records"])
def rate(record_id: int, body: RatingCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
         response: Response) -> dict:
    command = ratings.RateService(**body.model_dump())
    return run_write(ctx, response, key=key, operation="record.rate",
                     request={"record_id": record_id, **body.model_dump()},
                     fn=lambda s: ratings.rate_record(s, user, record_id, command, ctx.today()))
