"""Failed orders carry a stable failure code beside the partner-facing sentence.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("failure_code", sa.String(length=40), nullable=True))
    # Orders that failed before 0005 have a sentence but no code.
    op.execute(
        "UPDATE orders SET failure_code = 'processing_failed' "
        "WHERE status = 'failed' AND failure_code IS NULL"
    )


def downgrade() -> None:
    op.drop_column("orders", "failure_code")
