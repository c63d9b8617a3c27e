"""SIP agents the centre hears, the agent holding each call, calls dropped when it died

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD = ('waiting', 'ringing', 'answered', 'ended', 'abandoned', 'overflowed')
NEW = OLD + ('dropped',)


def _states(values):
    return sa.Enum(*values, name='call_state', native_enum=False, create_constraint=False, length=18)


def _check(values):
    return 'state IN (' + ', '.join(f"'{v}'" for v in values) + ')'


def upgrade():
    op.create_table('sip_agents',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heard_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('swept_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sip_agents'))
    )
    with op.batch_alter_table('sip_agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sip_agents_last_seen_at'), ['last_seen_at'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sip_agent', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_sip_agent'), ['sip_agent'], unique=False)
        batch_op.drop_constraint(op.f('ck_calls_call_state'), type_='check')
        batch_op.alter_column('state', existing_type=_states(OLD), type_=_states(NEW), existing_nullable=False)
        batch_op.create_check_constraint('call_state', _check(NEW))


def downgrade():
    op.execute("UPDATE calls SET state = 'ended' WHERE state = 'dropped'")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_call_state'), type_='check')
        batch_op.alter_column('state', existing_type=_states(NEW), type_=_states(OLD), existing_nullable=False)
        batch_op.create_check_constraint('call_state', _check(OLD))
        batch_op.drop_index(batch_op.f('ix_calls_sip_agent'))
        batch_op.drop_column('sip_agent')
    with op.batch_alter_table('sip_agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sip_agents_last_seen_at'))
    op.drop_table('sip_agents')
