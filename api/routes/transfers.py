"""Transfers (转移接续): move a volunteer between units, membership history, transfer packages
between deployments, and the deployment keys that sign and check them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import CtxDep, CurrentUser, IdempotencyKeyDep, run_write
from ledger.book import deployment_keys
from ledger.people.volunteers import keyed_hash_or_none
from ledger.store.uow import Context
from ledger.store.usecase import read
from ledger.transfers import moves as transfers, packages

router = APIRouter(tags=["transfers"])


class TransferCreate(BaseModel):
    to_unit_id: int = Field(description="the new home unit")
    effective_on: dt.date = Field(description="the first day at the new unit")
    leave_team_ids: list[int] = Field(default_factory=list, description="team memberships ending that day")
    join_team_ids: list[int] = Field(default_factory=list, description="teams joined that day")
    role: str = Field(default="志愿者", max_length=40)
    reason: str = Field(default="", max_length=200)


class PackageExport(BaseModel):
    to_deployment_id: str = Field(min_length=1, max_length=100, description="a trusted peer deployment")
    left_on: dt.date | None = Field(default=None, description="last day here is the day before; default today")


class PackageImport(BaseModel):
    package: dict[str, Any] | str = Field(description="the signed package: the JSON object or its text")
    home_unit_id: int = Field(description="the volunteer's home unit here")
    id_number: str | None = Field(default=None, description="身份证号 typed from the ID card: links by hash")
    arrived_on: dt.date | None = None


class TrustedKeyCreate(BaseModel):
    deployment_id: str = Field(min_length=1, max_length=100)
    name: str = Field(default="", max_length=200)
    public_key: str = Field(min_length=1, max_length=100, description="base64 of the raw 32-byte Ed25519 key")


def data_dir(ctx: Context) -> str:
    """Where this deployment keeps its signing key."""
    return str(ctx.options.get("data_dir") or "var")


def future_limit(ctx: Context) -> int:
    """How many days ahead a move may be dated."""
    return int(ctx.options.get("transfer_future_limit_days", 30))


@router.post("/volunteers/{volunteer_id}/transfer")
def transfer(volunteer_id: int, body: TransferCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
             response: Response) -> dict:
    """Move the volunteer's home unit on a date (hours stay where served; points move where funded)."""
    command = transfers.TransferVolunteer(volunteer_id=volunteer_id, to_unit_id=body.to_unit_id,
                                          effective_on=body.effective_on, leave_team_ids=tuple(body.leave_team_ids),
                                          join_team_ids=tuple(body.join_team_ids), role=body.role, reason=body.reason)
    return run_write(ctx, response, key=key, operation="volunteer.transfer",
                     request={"volunteer_id": volunteer_id, **body.model_dump(mode="json")},
                     fn=lambda s: transfers.transfer_volunteer(s, user, command, today=ctx.today(),
                                                               future_limit_days=future_limit(ctx)))


@router.get("/volunteers/{volunteer_id}/memberships")
def memberships(volunteer_id: int, ctx: CtxDep, user: CurrentUser) -> dict:
    """The membership history (valid_to exclusive) and packages that moved the volunteer."""
    return read(ctx, lambda s: {**transfers.membership_history(s, user, volunteer_id),
                                "transfers": transfers.list_transfers(s, user, volunteer_id)})


@router.post("/volunteers/{volunteer_id}/export")
def export(volunteer_id: int, body: PackageExport, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
           response: Response) -> dict:
    """The volunteer leaves for another deployment: returns the signed package to hand over."""
    command = packages.ExportVolunteer(volunteer_id=volunteer_id, to_deployment_id=body.to_deployment_id,
                                       left_on=body.left_on)
    signing_key = deployment_keys.signing_key(data_dir(ctx))
    return run_write(ctx, response, key=key, operation="volunteer.export",
                     request={"volunteer_id": volunteer_id, **body.model_dump(mode="json")},
                     fn=lambda s: packages.export_volunteer(
                         s, user, command, signing_key=signing_key, deployment_id=ctx.deployment_id,
                         deployment_name=ctx.deployment_name, today=ctx.today(), now=ctx.now()))


@router.post("/transfer-packages/import")
def import_package(body: PackageImport, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
                   response: Response) -> dict:
    """Check a package (trusted key, signature, every hash) and carry the volunteer in; twice is a no-op."""
    command = packages.ImportPackage(package=body.package, home_unit_id=body.home_unit_id,
                                     id_number=body.id_number, arrived_on=body.arrived_on)
    fingerprint = {**body.model_dump(mode="json"), "id_number": keyed_hash_or_none(ctx.secret_key, body.id_number)}
    return run_write(ctx, response, key=key, operation="package.import", request=fingerprint,
                     fn=lambda s: packages.import_package(
                         s, user, command, secret=ctx.secret_key, deployment_id=ctx.deployment_id,
                         today=ctx.today(), future_limit_days=future_limit(ctx)))


@router.get("/transfer-packages")
def list_packages(ctx: CtxDep, user: CurrentUser, direction: str | None = Query(None, pattern="^(in|out)$"),
                  limit: int = Query(100, ge=1, le=500)) -> list[dict]:
    return read(ctx, lambda s: packages.list_packages(s, user, direction, limit))


@router.get("/transfer-packages/{package_id}")
def get_package(package_id: str, ctx: CtxDep, user: CurrentUser) -> dict:
    return read(ctx, lambda s: packages.get_package(s, user, package_id))


@router.get("/deployment-keys")
def list_keys(ctx: CtxDep, user: CurrentUser) -> dict:
    """This deployment's public key (to give to peers) and the peers' keys it trusts."""
    trusted = read(ctx, lambda s: deployment_keys.list_trusted(s, user))
    own = deployment_keys.own_key(data_dir(ctx), ctx.deployment_id, ctx.deployment_name)
    return {"own": own, "trusted": trusted}


@router.post("/deployment-keys", status_code=201)
def trust_key(body: TrustedKeyCreate, ctx: CtxDep, user: CurrentUser, key: IdempotencyKeyDep,
              response: Response) -> dict:
    """Trust a peer deployment's public key (admin only; compare the fingerprint out of band)."""
    return run_write(ctx, response, key=key, operation="deployment_key.trust", request=body.model_dump(),
                     fn=lambda s: deployment_keys.trust_key(s, user, deployment_id=body.deployment_id,
                                                            name=body.name, public_key=body.public_key,
                                                            own_deployment_id=ctx.deployment_id))
