#!/usr/bin/env bash
# Rewrite the initial migration from the models (allowed until the first release ships).
# Usage: bash tools/regen_initial_migration.sh
set -euo pipefail
cd "$(dirname "$0")/.."
versions=src/clinic_crm/migrations/versions
rm -f "$versions"/0001_initial.py
tmp=$(mktemp -d)
python - "$tmp" <<'PY'
import sys
from alembic import command
from clinic_crm.db import create_crm_engine
from clinic_crm.migrations import alembic_config
engine = create_crm_engine(f"sqlite:///{sys.argv[1]}/empty.db")
command.revision(alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001")
PY
mv "$versions"/0001_initial_schema.py "$versions"/0001_initial.py
rm -rf "$tmp"
ruff format -q "$versions"/0001_initial.py || true
ruff check -q --fix "$versions"/0001_initial.py || true
echo "wrote $versions/0001_initial.py"
