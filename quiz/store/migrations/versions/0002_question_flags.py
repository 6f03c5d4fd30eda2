"""question flags: the browser's flag and suspend marks

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:20:00

A row exists only for a question the user has marked; suspended questions leave the review queue.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('question_flags',
    sa.Column('question_id', sa.String(length=128), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('suspended', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], ),
    sa.PrimaryKeyConstraint('question_id')
    )


def downgrade() -> None:
    op.drop_table('question_flags')
