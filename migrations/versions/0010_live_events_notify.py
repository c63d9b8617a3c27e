"""live events wake the other processes: NOTIFY warroom_live_events at each commit (PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 06:00:00.000000

A statement-level trigger: one notification per inserting statement, and PostgreSQL folds
identical notifications of one transaction into one, delivered only if it commits. The
notification carries nothing: the listeners read the table (cad/events.py). SQLite has no
NOTIFY; its processes poll.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION warroom_live_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('warroom_live_events', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER live_events_notify AFTER INSERT ON live_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION warroom_live_events_notify()"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS live_events_notify ON live_events")
    op.execute("DROP FUNCTION IF EXISTS warroom_live_events_notify()")
