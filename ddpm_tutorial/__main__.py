"""``python -m ddpm_tutorial``: see :mod:`ddpm_tutorial.cli`."""

import sys

from .cli import main

sys.exit(main())
