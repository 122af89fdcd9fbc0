"""selection rules: runs and targets reports as of a cut-off date, new eligibility facts, public notice

Runs and targets reports may be made "as of" a cut-off date inside their period (截至日期:
`cutoff_on`, NULL for a run of the whole period).  A run's entries carry the dates behind the
new tie-breaks (the day the thresholds were met, the last service, the registration) and the
new eligibility flags; `entries_format` says which figures a run's entries hash covers (1 for
the runs made before this revision, 2 after).  A published run can be put on public notice
(公示): the notice, the objections (contact hashed and masked), their resolutions and how the
notice ended are four append-only tables.

Revision ID: 0020
Revises: 0015
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.helpers import drop_append_only, make_append_only

revision = "0020"
down_revision = "0015"
branch_labels = None
depends_on = None

APPEND_ONLY = ("ranking_notices", "ranking_objections", "ranking_objection_resolutions", "ranking_notice_outcomes")
ENTRY_COLUMNS = (("threshold_on", sa.Date()), ("last_service_on", sa.Date()), ("registered_on", sa.Date()),
                 ("upheld_complaints", sa.Integer()), ("lacks_points", sa.Boolean()),
                 ("lacks_activities", sa.Boolean()), ("has_upheld_complaint", sa.Boolean()),
                 ("lacks_registration", sa.Boolean()))


def upgrade() -> None:
    if _already_applied():  # a revision table set back by hand (tests replay from 0010): nothing to redo
        return
    _add_columns()
    _notices_and_objections()
    _resolutions_and_outcomes()
    for table in APPEND_ONLY:
        make_append_only(table)


def _already_applied() -> bool:
    inspector = sa.inspect(op.get_bind())
    return inspector.has_table("ranking_notices") and any(
        column["name"] == "cutoff_on" for column in inspector.get_columns("ranking_runs"))


def _add_columns() -> None:
    # plain ADD COLUMN on both engines (a batch copy would drop SQLite's append-only triggers)
    op.add_column("ranking_runs", sa.Column("cutoff_on", sa.Date(), nullable=True))
    op.add_column("ranking_runs", sa.Column("entries_format", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("target_reports", sa.Column("cutoff_on", sa.Date(), nullable=True))
    for name, type_ in ENTRY_COLUMNS:
        op.add_column("ranking_entries", sa.Column(name, type_, nullable=True))


def _notices_and_objections() -> None:
    op.create_table(
        "ranking_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_ranking_notices_days")),
        sa.ForeignKeyConstraint(["run_id"], ["ranking_runs.id"], name=op.f("fk_ranking_notices_run_id_ranking_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_notices")),
        sa.UniqueConstraint("run_id", name=op.f("uq_ranking_notices_run_id")))
    op.create_table(
        "ranking_objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("objector_name", sa.String(length=50), nullable=False),
        sa.Column("contact_hash", sa.String(length=64), nullable=False),
        sa.Column("contact_masked", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["ranking_notices.id"],
                                name=op.f("fk_ranking_objections_notice_id_ranking_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_objections")))
    op.create_index(op.f("ix_ranking_objections_notice_id"), "ranking_objections", ["notice_id"])


def _resolutions_and_outcomes() -> None:
    op.create_table(
        "ranking_objection_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("objection_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('upheld','dismissed')", name=op.f("ck_ranking_objection_resolutions_outcome")),
        sa.ForeignKeyConstraint(["objection_id"], ["ranking_objections.id"],
                                name=op.f("fk_ranking_objection_resolutions_objection_id_ranking_objections")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_objection_resolutions")),
        sa.UniqueConstraint("objection_id", name=op.f("uq_ranking_objection_resolutions_objection_id")))
    op.create_table(
        "ranking_notice_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("by_run_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('confirmed','superseded')", name=op.f("ck_ranking_notice_outcomes_outcome")),
        sa.ForeignKeyConstraint(["by_run_id"], ["ranking_runs.id"],
                                name=op.f("fk_ranking_notice_outcomes_by_run_id_ranking_runs")),
        sa.ForeignKeyConstraint(["notice_id"], ["ranking_notices.id"],
                                name=op.f("fk_ranking_notice_outcomes_notice_id_ranking_notices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ranking_notice_outcomes")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_ranking_notice_outcomes_notice_id")))


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        drop_append_only(table)
        if table == "ranking_objections":
            op.drop_index(op.f("ix_ranking_objections_notice_id"), table_name=table)
        op.drop_table(table)
    for name, _ in reversed(ENTRY_COLUMNS):
        op.drop_column("ranking_entries", name)
    op.drop_column("target_reports", "cutoff_on")
    op.drop_column("ranking_runs", "entries_format")
    op.drop_column("ranking_runs", "cutoff_on")
