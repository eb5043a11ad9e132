"""Fit modes and the measured loudness of a render (issue 20)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

assets.fit: how a clip or still meets the frame (contain, cover, blur); NULL: the
project's default. projects.fit: that default; NULL: contain. render_jobs.loudness_lufs:
the integrated loudness the finished output measures (ebur128), for a loudness target.
All nullable, so existing rows keep today's look (contain) and no measurement. On
PostgreSQL the roles' column grants are applied by rendercli/db/access.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fit", sa.String(length=8), nullable=True))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fit", sa.String(length=8), nullable=True))
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("loudness_lufs", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.drop_column("loudness_lufs")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("fit")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("fit")
