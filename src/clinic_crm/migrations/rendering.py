"""How autogenerate writes our column types into migration scripts (also used by the drift test)."""

from __future__ import annotations

from typing import Any, Literal

from alembic.autogenerate.api import AutogenContext
from sqlmodel.sql.sqltypes import AutoString

from clinic_crm.db.name_search import is_search_object
from clinic_crm.models import UTCDateTime

__all__ = ["render_item"]


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render SQLModel's AutoString as a plain ``sa.String`` and our UTC type by its import path."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import clinic_crm.models._base")
        return "clinic_crm.models._base.UTCDateTime()"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave the name search's FTS5 tables (shadow and vocabulary tables too) and GIN indexes out of comparisons.

    They are built by revisions 0011 and 0014 with SQL the models cannot express (see ``clinic_crm.db.name_search``).
    """
    return not is_search_object(name)
