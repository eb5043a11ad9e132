"""timeline effects: transitions, fades, sound, motion, title cards, text overlays, fonts,
and a loudness target for render jobs (issue 11)

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-02

Existing assets keep rendering exactly as before: a cut, no fades, full volume.
New NOT NULL columns are added with a server default (to fill existing rows), which is
then dropped again: every default lives in the models, on the Python side.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> (type, value for existing rows)
_NEW_ASSET_COLUMNS = {
    "transition": (sa.String(length=16), sa.text("'none'")),
    "transition_seconds": (sa.Float(), sa.text("0")),
    "fade_in": (sa.Float(), sa.text("0")),
    "fade_out": (sa.Float(), sa.text("0")),
    "volume": (sa.Float(), sa.text("1")),
    "mute": (sa.Boolean(), sa.false()),
    "duck": (sa.Boolean(), sa.false()),
}
# Titles have no file and fonts have no place on the timeline.
_NOW_NULLABLE = {
    "position": sa.Integer(),
    "sha256": sa.String(length=64),
    "storage_key": sa.String(length=255),
    "size_bytes": sa.BigInteger(),
    "container": sa.String(length=16),
}


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name, (type_, existing) in _NEW_ASSET_COLUMNS.items():
            batch_op.add_column(
                sa.Column(name, type_, nullable=False, server_default=existing)
            )
        batch_op.add_column(sa.Column("motion", sa.String(length=16), nullable=True))
        for name, type_ in _NOW_NULLABLE.items():
            batch_op.alter_column(name, existing_type=type_, nullable=True)
        batch_op.drop_constraint(op.f("ck_assets_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_assets_kind"), "kind IN ('video', 'image', 'audio', 'title', 'font')"
        )
        batch_op.create_check_constraint(
            op.f("ck_assets_position"), "(kind = 'font') = (position IS NULL)"
        )
        batch_op.create_check_constraint(
            op.f("ck_assets_stored"), "(kind = 'title') = (storage_key IS NULL)"
        )
    with op.batch_alter_table("assets", schema=None) as batch_op:
        for name, (type_, _existing) in _NEW_ASSET_COLUMNS.items():
            batch_op.alter_column(name, existing_type=type_, server_default=None)

    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("loudness", sa.Float(), nullable=True))

    op.create_table(
        "asset_titles",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("background", sa.String(length=16), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column("size", sa.String(length=8), nullable=False),
        sa.Column("font_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_titles_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["font_id"], ["assets.id"], name=op.f("fk_asset_titles_font_id_assets")
        ),
        sa.PrimaryKeyConstraint("asset_id", name=op.f("pk_asset_titles")),
    )
    with op.batch_alter_table("asset_titles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_titles_font_id"), ["font_id"], unique=False)

    op.create_table(
        "asset_texts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("placement", sa.String(length=16), nullable=False),
        sa.Column("size", sa.String(length=8), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column("box", sa.Boolean(), nullable=False),
        sa.Column("font_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_texts_asset_id_assets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["font_id"], ["assets.id"], name=op.f("fk_asset_texts_font_id_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_texts")),
    )
    with op.batch_alter_table("asset_texts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_asset_texts_asset_id_position"), ["asset_id", "position"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_asset_texts_font_id"), ["font_id"], unique=False)


def downgrade() -> None:
    op.drop_table("asset_texts")
    op.drop_table("asset_titles")
    with op.batch_alter_table("render_jobs", schema=None) as batch_op:
        batch_op.drop_column("loudness")
    # Titles and fonts cannot be expressed in the older schema.
    op.execute("DELETE FROM assets WHERE kind IN ('title', 'font')")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_assets_stored"), type_="check")
        batch_op.drop_constraint(op.f("ck_assets_position"), type_="check")
        batch_op.drop_constraint(op.f("ck_assets_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_assets_kind"), "kind IN ('video', 'image', 'audio')"
        )
        for name, type_ in _NOW_NULLABLE.items():
            batch_op.alter_column(name, existing_type=type_, nullable=False)
        for name in (*_NEW_ASSET_COLUMNS, "motion"):
            batch_op.drop_column(name)
