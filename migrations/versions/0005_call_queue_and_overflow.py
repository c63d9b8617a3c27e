"""calls may be waiting (queued by a full SIP pool) or overflowed (redirected to a neighbour)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD = ('ringing', 'answered', 'ended', 'abandoned')
NEW = ('waiting', 'ringing', 'answered', 'ended', 'abandoned', 'overflowed')


def _states(values, length):
    return sa.Enum(*values, name='call_state', native_enum=False, create_constraint=False, length=length)


def _check(values):
    return 'state IN (' + ', '.join(f"'{v}'" for v in values) + ')'


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_call_state'), type_='check')
        batch_op.alter_column('state', existing_type=_states(OLD, 17), type_=_states(NEW, 18), existing_nullable=False)
        batch_op.create_check_constraint('call_state', _check(NEW))


def downgrade():
    op.execute("UPDATE calls SET state = 'abandoned' WHERE state IN ('waiting', 'overflowed')")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_call_state'), type_='check')
        batch_op.alter_column('state', existing_type=_states(NEW, 18), type_=_states(OLD, 17), existing_nullable=False)
        batch_op.create_check_constraint('call_state', _check(OLD))
