"""Each render job names its owner (issue 21): an account's jobs are found by one index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08

`jobs list` and row security used to find an account's jobs through the account's
projects (`project_id = ANY (the caller's project ids)`): with a batch of 10,000
projects that read and sorted 10,000 rows on every call, because the planner cannot
tell how long that array is. A job now carries `owner_id`, and `(project_id, owner_id)`
must name a project of that owner (a foreign key to a new unique pair on projects), so
the database itself keeps it true. `jobs list` then reads the account's newest jobs
backwards on `(owner_id, created_at, id)` and stops at the limit; the row-security
policies compare `owner_id` instead of searching the array (rendercli/db/access.py,
applied by `rendercli db upgrade`). The 0012 index is superseded and dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OWNER_FK = "fk_render_jobs_project_owner"


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f("uq_projects_id_owner_id"), ["id", "owner_id"])
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=32), nullable=True))
    op.execute("UPDATE render_jobs SET owner_id = "
               "(SELECT p.owner_id FROM projects AS p WHERE p.id = render_jobs.project_id)")
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.alter_column("owner_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_foreign_key(OWNER_FK, "projects", ["project_id", "owner_id"],
                                    ["id", "owner_id"], ondelete="CASCADE")
        batch_op.drop_index("ix_render_jobs_created_at_id")
        batch_op.create_index(op.f("ix_render_jobs_owner_id_created_at_id"),
                              ["owner_id", "created_at", "id"], unique=False)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The row-security policies compare owner_id: drop them with it. The previous
        # release's `rendercli db upgrade` makes its own (rendercli/db/access.py).
        for table in ("render_jobs", "render_tasks"):
            for (name,) in bind.exec_driver_sql(
                    "SELECT policyname FROM pg_policies WHERE schemaname = current_schema() "
                    "AND tablename = %(t)s AND policyname LIKE 'rendercli\\_%%'",
                    {"t": table}).all():
                bind.exec_driver_sql(f'DROP POLICY "{name}" ON {table}')
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.drop_index(op.f("ix_render_jobs_owner_id_created_at_id"))
        batch_op.create_index("ix_render_jobs_created_at_id", ["created_at", "id"],
                              unique=False)
        batch_op.drop_constraint(OWNER_FK, type_="foreignkey")
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_projects_id_owner_id"), type_="unique")
