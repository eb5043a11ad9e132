"""assets: the recorded SHA-256 is the storage key of the object the asset names (issue 19)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Storage is content-addressed: an object's key is the SHA-256 of its bytes, and that is
what the render encodes. `assets.sha256` was a second copy the client role could set to
anything, and segment cache keys used it. A CHECK constraint now makes the two agree
(both NULL for a title card), on SQLite and PostgreSQL alike, whoever writes the row.

Existing rows that disagree (only a hand-edited row can) are repaired before the
constraint is added: the storage key names the file that is actually rendered, so the
hash becomes that key. Their ids are logged.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelt out for NULLs: a CHECK whose expression is NULL passes.
HASH_IS_KEY = ("(sha256 IS NULL AND storage_key IS NULL) OR (sha256 IS NOT NULL "
               "AND storage_key IS NOT NULL AND sha256 = storage_key)")
DISAGREE = ("(sha256 IS NULL) <> (storage_key IS NULL) "
            "OR (sha256 IS NOT NULL AND sha256 <> storage_key)")

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text(f"SELECT id FROM assets WHERE {DISAGREE}"))]
    if ids:
        log.warning("assets whose sha256 disagreed with their storage key (set to the key): "
                    "%s", ", ".join(ids))
        bind.execute(sa.text(f"UPDATE assets SET sha256 = storage_key WHERE {DISAGREE}"))
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.create_check_constraint(op.f("ck_assets_hash_is_key"), HASH_IS_KEY)


def downgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_assets_hash_is_key"), type_="check")
