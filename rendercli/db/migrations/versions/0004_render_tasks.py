"""render tasks: a render split over the farm

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "render_tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_name", sa.String(length=200), nullable=True),
        sa.Column("command", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('segment', 'soundtrack', 'assemble')",
                           name=op.f("ck_render_tasks_kind")),
        sa.CheckConstraint(
            "state IN ('queued', 'processing', 'completed', 'failed', 'cancelled')",
            name=op.f("ck_render_tasks_state"),
        ),
        sa.ForeignKeyConstraint(["job_id"], ["render_jobs.id"],
                                name=op.f("fk_render_tasks_job_id_render_jobs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_render_tasks")),
    )
    with op.batch_alter_table("render_tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_render_tasks_job_id_seq"), ["job_id", "seq"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_render_tasks_state_heartbeat_at"),
                              ["state", "heartbeat_at"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Like every table since 0002: row security on, nothing for PUBLIC; `rendercli db
        # upgrade` then grants the client and worker roles their rows (db/access.py).
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        bind.exec_driver_sql(f"ALTER TABLE {schema}.render_tasks ENABLE ROW LEVEL SECURITY")
        bind.exec_driver_sql(f"REVOKE ALL ON {schema}.render_tasks FROM PUBLIC")


def downgrade() -> None:
    with op.batch_alter_table("render_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_render_tasks_state_heartbeat_at"))
        batch_op.drop_index(batch_op.f("ix_render_tasks_job_id_seq"))
    op.drop_table("render_tasks")
