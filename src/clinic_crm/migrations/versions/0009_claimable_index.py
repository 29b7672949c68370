"""reminder claims: a partial index of the claimable rows in claim order

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clinic_crm.models._base  # noqa: F401

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLAIMABLE = "status IN ('pending', 'sending')"


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reminder_claimable",
            ["ready_at", "id"],
            unique=False,
            postgresql_where=sa.text(_CLAIMABLE),
            sqlite_where=sa.text(_CLAIMABLE),
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index("ix_reminder_claimable")
