"""encounters.fold: the spell's folded state and where its plain fold ends, so an event that
comes after everything seen is applied without reading the history back (ADR 0008). Empty for
every existing spell: its next event re-folds the history once and fills it.

Revision ID: 8e2f4a7c1d30
Revises: 5c0e7a1d9b42
Create Date: 2026-12-01 01:50:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8e2f4a7c1d30"
down_revision: str | None = "5c0e7a1d9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "encounters",
        sa.Column("fold", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("encounters", "fold")
