"""Text styles (issue 20): fades, box/outline/shadow, the face of a font collection

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Columns with server defaults, so existing texts keep their look: no fade, the style
their ``box`` column says ('' on texts), titles without a box ('none'), face 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {"asset_texts": "", "asset_titles": "none"}


def upgrade() -> None:
    for table, style in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("fade_in", sa.Float(), nullable=False,
                                          server_default="0"))
            batch_op.add_column(sa.Column("fade_out", sa.Float(), nullable=False,
                                          server_default="0"))
            batch_op.add_column(sa.Column("style", sa.String(length=8), nullable=False,
                                          server_default=style))
            batch_op.add_column(sa.Column("font_face", sa.Integer(), nullable=False,
                                          server_default="0"))


def downgrade() -> None:
    for table in COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in ("font_face", "style", "fade_out", "fade_in"):
                batch_op.drop_column(column)
