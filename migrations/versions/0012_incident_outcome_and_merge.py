"""incidents: outcome (disposition), the incident a duplicate was merged into, a version per change

Every change bumps the version: writers serialise on the row, an editor's stale copy is a 409.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disposition', sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_foreign_key(
            batch_op.f('fk_incidents_merged_into_id_incidents'), 'incidents', ['merged_into_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_incidents_merged_into_id'), ['merged_into_id'], unique=False)


def downgrade():
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_merged_into_id'))
        batch_op.drop_constraint(batch_op.f('fk_incidents_merged_into_id_incidents'), type_='foreignkey')
        batch_op.drop_column('version')
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('disposition')
