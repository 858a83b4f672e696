"""All offers' search column: each offer's name and id casefolded by Python, so search is
case-insensitive beyond ASCII on SQLite (whose lower() folds ASCII only) as on PostgreSQL
(whose lower() depends on the database's locale).

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harness.publish.store.tables import search_key

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("offers", sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    connection = op.get_bind()
    offers = sa.table("offers", sa.column("id"), sa.column("name"), sa.column("search_text"))
    for offer_id, name in connection.execute(sa.select(offers.c.id, offers.c.name)).all():
        connection.execute(
            offers.update()
            .where(offers.c.id == offer_id)
            .values(search_text=search_key(name, offer_id))
        )


def downgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("search_text")
