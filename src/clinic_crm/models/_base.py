"""The declarative base, the constraint naming convention and the UTC datetime column type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from clinic_crm.errors import NaiveDatetimeError

__all__ = ["NAMING_CONVENTION", "metadata", "Base", "UTCDateTime", "SQLITE_TEXT_LENGTHS"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The metadata of every clinic_crm table, kept apart from ``SQLModel.metadata``
#: so a host application's ``create_all`` never creates (or drops) our tables.
metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(SQLModel, registry=registry(metadata=metadata)):
    """Base of every clinic_crm table model."""


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: accepts aware datetimes only, stores UTC, returns aware UTC.

    PostgreSQL stores ``timestamp with time zone``; SQLite stores the naive UTC
    wall time as ISO text, which sorts and compares correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC (naive UTC on SQLite)."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError("datetimes stored by clinic_crm must be timezone-aware")
        instant: datetime = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return instant.replace(tzinfo=None)
        return instant

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return the stored instant as an aware UTC datetime."""
        if value is None:
            return None
        instant = cast(datetime, value)
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], datetime | None] | None:
        """:meth:`process_result_value` after the dialect's own parsing, with a fast path on each database.

        SQLite hands back the stored text (``YYYY-MM-DD HH:MM:SS[.ffffff]``, naive UTC): reading it as
        ``<text>+00:00`` gives the same aware instant as parsing it and then ``replace(tzinfo=UTC)``, in a
        fraction of the time (the ``replace`` costs most).  Any other text goes through the general path.

        PostgreSQL (psycopg, session time zone pinned to UTC by :func:`clinic_crm.db.create_crm_engine`) already
        hands back aware datetimes whose ``tzinfo`` is ``datetime.UTC``: those pass through untouched; any other
        zone (a host engine with another session time zone) is converted.
        """
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite":
            if self.impl_instance.result_processor(dialect, coltype) is not None:
                return general  # the driver's values need the dialect's own processing first
            convert = self.process_result_value

            def aware_utc(value: Any) -> datetime | None:
                if value is None or (type(value) is datetime and value.tzinfo is UTC):
                    return value
                return convert(value, dialect)

            return aware_utc
        if general is None:
            return general
        parse = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if type(value) is str and len(value) in SQLITE_TEXT_LENGTHS:
                try:
                    return parse(value + "+00:00")
                except ValueError:
                    pass
            return general(value)

        return process


#: Lengths of the naive texts SQLite stores: ``YYYY-MM-DD HH:MM:SS`` with or without ``.ffffff``.
SQLITE_TEXT_LENGTHS = frozenset({19, 26})
