"""projects.spec_origin: which spec file's `render batch` made a project (issue 12)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

A nullable column: existing projects were made by hand or by `apply` as far as a batch
knows, so a batch refuses to change them unless given --replace. On PostgreSQL the
client role may update it (rendercli/db/access.py, applied by `rendercli db upgrade`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spec_origin", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("spec_origin")
