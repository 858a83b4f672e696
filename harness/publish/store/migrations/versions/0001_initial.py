"""The pipeline's first schema: offers, requests, stage runs, messages, artifacts, events,
notifications and support requests.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harness.publish.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offers",
        sa.Column("id", sa.String(50), nullable=False),
        sa.Column("publisher", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("offer_text", sa.Text(), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("preview_audience", sa.Text(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
    )
    op.create_table(
        "publish_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("offer_id", sa.String(50), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("active_for", sa.String(50), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("emails", sa.Text(), nullable=False),
        sa.Column("offer_text", sa.Text(), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name="fk_publish_requests_offer_id_offers"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_publish_requests"),
        sa.UniqueConstraint("active_for", name="uq_publish_requests_active_for"),
        sa.UniqueConstraint("offer_id", "number", name="uq_publish_requests_offer_id_number"),
    )
    op.create_index("ix_publish_requests_offer_id", "publish_requests", ["offer_id"])
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("estimate", sa.String(64), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["publish_requests.id"],
            name="fk_stage_runs_request_id_publish_requests",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stage_runs"),
        sa.UniqueConstraint("request_id", "stage", name="uq_stage_runs_request_id_stage"),
    )
    op.create_index("ix_stage_runs_request_id", "stage_runs", ["request_id"])
    op.create_index("ix_stage_runs_due_at", "stage_runs", ["due_at"])
    op.create_table(
        "stage_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_run_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_run_id"], ["stage_runs.id"], name="fk_stage_messages_stage_run_id_stage_runs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stage_messages"),
    )
    op.create_index("ix_stage_messages_stage_run_id", "stage_messages", ["stage_run_id"])
    op.create_table(
        "stage_artifacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stage_run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stage_run_id"], ["stage_runs.id"], name="fk_stage_artifacts_stage_run_id_stage_runs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stage_artifacts"),
    )
    op.create_index("ix_stage_artifacts_stage_run_id", "stage_artifacts", ["stage_run_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("offer_id", sa.String(50), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("what", sa.String(64), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("stage", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["publish_requests.id"], name="fk_events_request_id_publish_requests"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("key", name="uq_events_key"),
    )
    op.create_index("ix_events_offer_id", "events", ["offer_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("offer_id", sa.String(50), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("key", name="uq_notifications_key"),
    )
    op.create_index("ix_notifications_offer_id", "notifications", ["offer_id"])
    op.create_index("ix_notifications_sent_at", "notifications", ["sent_at"])
    op.create_table(
        "support_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("offer_id", sa.String(50), nullable=False),
        sa.Column("who", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("emailed_to", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_support_requests"),
    )
    op.create_index("ix_support_requests_offer_id", "support_requests", ["offer_id"])


def downgrade() -> None:
    for table in (
        "support_requests",
        "notifications",
        "events",
        "stage_artifacts",
        "stage_messages",
        "stage_runs",
        "publish_requests",
        "offers",
    ):
        op.drop_table(table)
