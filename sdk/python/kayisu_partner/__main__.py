"""`python -m kayisu_partner ...` is `kayisu-partner ...` (handy before the script is installed)."""

import sys

from .cli import main

sys.exit(main())
