"""intake keeps what does not fit: long SIP header values, location references, refused journal entries

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sip_headers', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('location_ref', sa.Text(), nullable=True))
    op.create_table('intake_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intake_failures')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_intake_failures_entry_id'))
    )
    with op.batch_alter_table('intake_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_failures_reported_at'), ['reported_at'], unique=False)


def downgrade():
    with op.batch_alter_table('intake_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_failures_reported_at'))
    op.drop_table('intake_failures')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('location_ref')
        batch_op.drop_column('sip_headers')
