"""An index for `jobs list` (issue 21): an account's newest jobs in list order

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

`jobs list` reads `ORDER BY created_at DESC, id DESC LIMIT n`; with this index the
database reads the newest rows backwards in that order and stops at the limit, instead
of reading and sorting every job of the account (10,000 queued jobs made every
`jobs list` slow).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_render_jobs_created_at_id", "render_jobs", ["created_at", "id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_render_jobs_created_at_id", table_name="render_jobs")
