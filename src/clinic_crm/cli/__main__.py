"""``python -m clinic_crm.cli``."""

import sys

from clinic_crm.cli import main

__all__: list[str] = []  # nothing to import from here

sys.exit(main())
