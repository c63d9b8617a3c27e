"""device reports: what a unit's device said without a usable position (cell/Wi-Fi only, 0,0, invalid)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('device_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cause', sa.Enum('absent', 'zero', 'invalid', name='no_fix_cause', native_enum=False, create_constraint=True, length=15), nullable=False),
    sa.Column('battery_pct', sa.Float(), nullable=True),
    sa.Column('charging', sa.Boolean(), nullable=True),
    sa.Column('said', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_device_reports_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_reports')),
    sa.UniqueConstraint('unit_id', 'reported_at', name='one_report_per_instant')
    )
    with op.batch_alter_table('device_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_reports_unit_id'), ['unit_id'], unique=False)


def downgrade():
    with op.batch_alter_table('device_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_reports_unit_id'))
    op.drop_table('device_reports')
