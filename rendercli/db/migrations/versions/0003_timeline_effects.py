"""timeline effects: transitions, fades, sound, motion, title cards, text overlays, fonts,
and a loudness target for render jobs (issue 11)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Existing assets keep rendering exactly as before: a cut, no fades, full volume.
New NOT NULL columns are added with a server default (to fill existing rows), which is
then dropped again: every default lives in the models, on the Python side.

PostgreSQL only: row security on the two new tables (no policy yet: nobody but the owner
sees a row until `rendercli db upgrade` applies rendercli/db/access.py), and a definer
function with the caller's asset ids, which the policies of both tables compare with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
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

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        # Straight to the driver: no parameters, so braces and '%' stay as they are.
        cursor = bind.connection.dbapi_connection.cursor()
        for statement in postgres_statements(schema):
            cursor.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their policies, which use the function: tables first.
    op.drop_table("asset_texts")
    op.drop_table("asset_titles")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
        bind.exec_driver_sql(f"DROP FUNCTION IF EXISTS {schema}.rendercli_my_asset_ids()")
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


NEW_TABLES = ("asset_titles", "asset_texts")

# As in 0002: SECURITY DEFINER (it must read projects and assets whatever the caller's
# row security), search_path pinned, every table schema-qualified, no EXECUTE for PUBLIC.
# The caller's asset ids, as one array: policies on asset_titles and asset_texts compare
# `asset_id = ANY (...)`, computed once per statement and answered from their asset_id
# indexes. The array is built from the (project_id, position) index of assets.
MY_ASSET_IDS = """
CREATE FUNCTION {s}.rendercli_my_asset_ids() RETURNS varchar[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, {s}, pg_temp
AS $fn$
SELECT coalesce(array_agg(a.id), '{{}}')
FROM {s}.assets AS a
WHERE a.project_id = ANY ({s}.rendercli_my_project_ids())
$fn$
"""


def postgres_statements(schema: str) -> list[str]:
    statements = [
        MY_ASSET_IDS.format(s=schema),
        f"REVOKE ALL ON FUNCTION {schema}.rendercli_my_asset_ids() FROM PUBLIC",
    ]
    for table in NEW_TABLES:
        statements.append(f"ALTER TABLE {schema}.{table} ENABLE ROW LEVEL SECURITY")
        statements.append(f"REVOKE ALL ON {schema}.{table} FROM PUBLIC")
    return statements
