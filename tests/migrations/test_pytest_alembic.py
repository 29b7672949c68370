"""pytest-alembic's default tests, on SQLite and PostgreSQL.

single head · upgrade from empty to head · models match the migrated DDL · every revision down and up again.
The tests are imported rather than collected by the plugin's ``--test-alembic`` switch: its collector sets
``Node._nodeid``, which pytest 9 no longer has (pytest-alembic 0.13.1), while its fixtures and tests work.
"""

from __future__ import annotations

from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]
