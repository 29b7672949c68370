"""patient_names_version: a counter per clinic raised with every change to its patients' names

The reply check's name index is reused while this counter is unchanged (reputation/guard.py); time stamps and
the highest id could miss a rename stamped earlier than the clinic's newest change, or a registration that
committed after one with a higher id.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import clinic_crm.models._base  # noqa: F401

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "patient_names_version",
        sa.Column("clinic_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"], name=op.f("fk_patient_names_version_clinic_id_clinic")),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_patient_names_version")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("patient_names_version")
