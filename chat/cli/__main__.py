"""``python -m chat.cli``: the same as ``tsunagu``."""

import sys

from chat.cli import main

sys.exit(main())
