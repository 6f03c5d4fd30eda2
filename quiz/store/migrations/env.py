"""Alembic environment. ``quiz.store.engine.upgrade_to_head`` hands over an open connection in
``config.attributes["connection"]``; there is no alembic.ini. To write a new migration, call
``alembic.command.revision(config, message, autogenerate=True)`` the same way."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.types import TypeDecorator

from quiz.store.models import Base


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Write custom column types as their plain SQL type, so migrations don't import models."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{type(obj.impl).__name__}()"
    return False


context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
