"""centre marks (a demo seeded this database) and the simulator's lease on the units' GPS tokens

The simulator places fake 112 calls and takes over every unit's GPS token: it runs only on a
database the demo seeded, and only one at a time.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 11:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('centre_marks',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_centre_marks'))
    )
    op.create_table('simulator_leases',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_simulator_leases'))
    )


def downgrade():
    op.drop_table('simulator_leases')
    op.drop_table('centre_marks')
