"""Alembic environment.

The database comes, in this order, from: a connection (or an engine) handed over in
``config.attributes["connection"]`` (the way pytest-alembic and host applications embed migrations; pytest-alembic
hands over its ``alembic_engine``), an engine in ``config.attributes["engine"]``
(``clinic_crm.migrations.upgrade``), ``alembic -x url=…``, or ``sqlalchemy.url`` in the configuration.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from clinic_crm.db import create_crm_engine
from clinic_crm.migrations.rendering import include_name, render_item
from clinic_crm.models import metadata

__all__: list[str] = []  # run by Alembic, not imported

config = context.config


def _engine() -> tuple[Engine, bool]:
    engine = config.attributes.get("engine")
    if engine is None and isinstance(config.attributes.get("connection"), Engine):
        engine = config.attributes["connection"]
    if engine is not None:
        return engine, False
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("pass the database as: alembic -x url=sqlite:///clinic.db upgrade head")
    return create_crm_engine(url), True


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations in one transaction on the target database."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)  # the caller owns the connection and its transaction
        return
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():  # pragma: no cover - SQL scripts are not part of the workflow
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
