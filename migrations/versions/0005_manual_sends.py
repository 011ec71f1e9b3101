"""Manual sends (retries and resends) are recorded, so both count toward an endpoint's
hourly allowance.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_manual_sends",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('retry', 'resend')", name=op.f("ck_webhook_manual_sends_kind")
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_manual_sends_delivery_id_webhook_deliveries"),
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_manual_sends_endpoint_id_webhook_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_manual_sends")),
    )
    op.create_index(
        "ix_webhook_manual_sends_endpoint_sent",
        "webhook_manual_sends",
        ["endpoint_id", "sent_at"],
        unique=False,
    )
    # Resends made before this revision were counted from their deliveries' keys; they
    # keep counting (each resend delivery is one manual send, its id reused as the row's).
    op.execute(
        "INSERT INTO webhook_manual_sends (id, endpoint_id, delivery_id, kind, sent_at) "
        "SELECT id, endpoint_id, id, 'resend', created_at FROM webhook_deliveries "
        "WHERE key LIKE '%:resend:%'"
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_manual_sends_endpoint_sent", table_name="webhook_manual_sends")
    op.drop_table("webhook_manual_sends")
