"""A volume keeps the decibels it was written in (issue 23): assets.volume_text

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08

`asset update --volume -3dB` stored only the gain, 0.7079457843841379, so `asset list`
showed `volume 0.708` and `project export` wrote the long number. The text as written
("-3dB", at most 16 characters) is kept beside the gain when it was decibels; the gain
is still what renders. Existing rows keep NULL and show their number, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("volume_text", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("volume_text")
