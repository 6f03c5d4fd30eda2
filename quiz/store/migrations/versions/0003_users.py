"""users: every attempt, card, flag, mock, practical run, plan and setting belongs to a user

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00

Existing rows go to the user who opens the database first after this upgrade (``--user``,
``LATENCY_QUIZ_USER`` or the login; ``quiz.store.engine.upgrade_to_head`` passes the name in
``config.attributes["default_user"]``). Nothing is dropped: each table gains ``user_id``,
filled in before it becomes NOT NULL; cards, flags and settings are keyed by (user, key).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import context, op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column that joins user_id in its primary key (None: it keeps its own id)
USER_TABLES: dict[str, str | None] = {
    'study_sessions': None,
    'attempts': None,
    'review_logs': None,
    'practical_runs': None,
    'review_cards': 'question_id',
    'question_flags': 'question_id',
    'settings': 'key',
}


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    for table in USER_TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
    owner = _default_owner()
    if owner is not None:
        for table in USER_TABLES:
            op.execute(sa.text(f'UPDATE {table} SET user_id = :owner').bindparams(owner=owner))
    bind = op.get_bind()
    for table, keyed_by in USER_TABLES.items():
        # SQLite's keys have no name: the convention names the one it reflects, to drop it
        old_primary_key = sa.inspect(bind).get_pk_constraint(table).get('name') or f'pk_{table}'
        with op.batch_alter_table(table, naming_convention={'pk': 'pk_%(table_name)s'}) as batch_op:
            batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(f'fk_{table}_user_id_users', 'users', ['user_id'], ['id'])
            if keyed_by is None:
                batch_op.create_index(batch_op.f(f'ix_{table}_user_id'), ['user_id'], unique=False)
            else:
                batch_op.drop_constraint(old_primary_key, type_='primary')
                batch_op.create_primary_key(f'{table}_pkey', ['user_id', keyed_by])


def _default_owner() -> int | None:
    """The id of the user who gets the rows already here, or None when there are none."""
    bind = op.get_bind()
    if not any(bind.execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() for table in USER_TABLES):
        return None
    name = context.config.attributes.get('default_user') or 'default'
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    bind.execute(sa.text('INSERT INTO users (name, created_at) VALUES (:name, :now)'), {'name': name, 'now': now})
    return int(bind.execute(sa.text('SELECT id FROM users WHERE name = :name'), {'name': name}).scalar_one())


def downgrade() -> None:
    """Back to one user's database; refused (nothing changed) when more than one has data."""
    bind = op.get_bind()
    owners = set()
    for table in USER_TABLES:
        owners |= {row[0] for row in bind.execute(sa.text(f'SELECT DISTINCT user_id FROM {table}'))}
    if len(owners) > 1:
        raise RuntimeError(
            f'cannot downgrade below 0003: {len(owners)} users have data and 0002 has room for one'
        )
    for table, keyed_by in USER_TABLES.items():
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_user_id_users', type_='foreignkey')
            if keyed_by is None:
                batch_op.drop_index(batch_op.f(f'ix_{table}_user_id'))
            else:
                batch_op.drop_constraint(f'{table}_pkey', type_='primary')
                batch_op.create_primary_key(f'{table}_pkey', [keyed_by])
            batch_op.drop_column('user_id')
    op.drop_table('users')
