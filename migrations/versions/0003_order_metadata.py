"""Orders carry the partner's metadata, external id and recipient count.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "orders",
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )
    op.add_column("orders", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.add_column("orders", sa.Column("recipient_count", sa.Integer(), nullable=True))
    op.create_index(
        "ux_orders_external_id",
        "orders",
        ["tenant_id", "mode", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
        sqlite_where=sa.text("external_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ux_orders_external_id",
        table_name="orders",
        postgresql_where=sa.text("external_id IS NOT NULL"),
        sqlite_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_column("orders", "recipient_count")
    op.drop_column("orders", "external_id")
    op.drop_column("orders", "metadata")
