"""``python -m clinic_crm.cli``."""

import sys

from clinic_crm.cli import main

sys.exit(main())
