"""render batches: render_jobs.batch_id groups the jobs of one `render batch` (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A nullable column and its index; existing jobs belong to no batch. On PostgreSQL the
client role inserts and reads whole job rows (rendercli/db/access.py), so the column
needs no grant of its own; no role may update it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_render_jobs_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_render_jobs_batch_id"))
        batch_op.drop_column("batch_id")
